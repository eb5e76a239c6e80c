"""Nested: a grandparent starts a parent, which starts a child; each level waits on the one below.

How to run (a Prefect 1 backend and a LocalAgent running, see the README):

    prefect create project examples
    prefect register -p examples/parent_flows/nested.py --project examples
    prefect run --name nested-grandparent --project examples --watch
"""
import prefect
from prefect import Flow, Parameter, task

from tasks_flowrun import create_flow_run, wait_for_flow_run


@task
def square(n: int) -> int:
    prefect.context.get("logger").info("%s squared is %s", n, n * n)
    return n * n


# --- level 3: the leaf ------------------------------------------------------------------
with Flow("nested-child") as child:
    square(Parameter("n", default=3))


# --- level 2: starts the leaf and waits --------------------------------------------------
with Flow("nested-parent") as parent:
    project = Parameter("project", default="examples")
    n = Parameter("n", default=3)
    # A dict holding tasks is fine: Prefect turns it into a task that builds the dict at run time.
    leaf = create_flow_run(flow_name="nested-child", project_name=project, parameters={"n": n})
    wait_for_flow_run(leaf, stream_logs=True, raise_final_state=True)


# --- level 1: starts level 2 and waits ----------------------------------------------------
with Flow("nested-grandparent") as flow:
    project = Parameter("project", default="examples")
    middle = create_flow_run(
        flow_name="nested-parent", project_name=project, parameters={"project": project, "n": 4}
    )
    # If the leaf fails, the parent fails, and so does this task: failures travel up.
    wait_for_flow_run(middle, stream_logs=True, raise_final_state=True)


if __name__ == "__main__":
    flow.run()  # needs a backend: every level is a flow run created through the API
