"""Hello world: a parent flow starts the hello-world child flow by name and waits for it.

How to run (a Prefect 1 backend and a LocalAgent running, see the README):

    prefect create project examples
    prefect register -p examples/parent_flows/hello_world.py --project examples
    prefect run --name hello-world-parent --project examples --watch

The child's "Hello, parent!" log line shows up in the parent's logs (stream_logs=True).
"""
import prefect
from prefect import Flow, Parameter, task

from tasks_flowrun import create_flow_run, wait_for_flow_run


# --- the child: the hello-world flow of Prefect's tutorial ---------------------------
@task
def say_hello(name: str) -> str:
    greeting = f"Hello, {name}!"
    prefect.context.get("logger").info(greeting)
    return greeting


with Flow("hello-world") as child:
    name = Parameter("name", default="world")
    say_hello(name)


# --- the parent: create the child by name, then block until it is done ---------------
with Flow("hello-world-parent") as flow:
    # The project to look the child up in; a flow name can exist in several projects.
    project = Parameter("project", default="examples")
    child_run_id = create_flow_run(
        flow_name="hello-world", project_name=project, parameters={"name": "parent"}
    )
    # Ends in the child's final state: if the child fails, this task (and the parent) fail.
    wait_for_flow_run(child_run_id, stream_logs=True, raise_final_state=True)


if __name__ == "__main__":
    flow.run()  # needs a backend: the child is a flow run created through the API
