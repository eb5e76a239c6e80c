"""Flow group: a parent starts a child by its flow group id, so it always runs the newest version.

A flow group outlives re-registration: each `prefect register` of a changed flow adds a
version to the same group and archives the older ones. A parent that holds the group id
(not a flow id) keeps starting the newest version without being changed itself.

How to run (a Prefect 1 backend and a LocalAgent running, see the README):

    prefect create project examples
    prefect register -p examples/parent_flows/flow_group.py --project examples
    python examples/parent_flows/flow_group.py        # prints the group id of "nightly-report"
    prefect run --name report-by-group --project examples --param flow_group_id=<id> --watch
"""
import prefect
from prefect import Flow, Parameter, task
from prefect.utilities.graphql import with_args

from tasks_flowrun import create_flow_run, wait_for_flow_run


# --- the child: edit and re-register it freely --------------------------------------------
@task
def build_report(title: str) -> str:
    prefect.context.get("logger").info("Building %r", title)
    return title


with Flow("nightly-report") as child:
    build_report(Parameter("title", default="nightly report"))


# --- the parent: knows the group, not the version ------------------------------------------
with Flow("report-by-group") as flow:
    flow_group_id = Parameter("flow_group_id")  # required
    report_run = create_flow_run(flow_group_id=flow_group_id, parameters={"title": "started by group"})
    wait_for_flow_run(report_run, stream_logs=True, raise_final_state=True)


def lookup_flow_group_id(flow_name: str, project_name: str) -> str:
    """The group id of a registered flow (the id in the flow's URL in the Prefect UI)."""
    where = {
        "name": {"_eq": flow_name},
        "archived": {"_eq": False},
        "project": {"name": {"_eq": project_name}},
    }
    flows = prefect.Client().graphql({"query": {with_args("flow", {"where": where}): {"flow_group_id"}}}).data.flow
    if not flows:
        raise ValueError(f"No flow {flow_name!r} registered in project {project_name!r}")
    return flows[0].flow_group_id


if __name__ == "__main__":
    group = lookup_flow_group_id("nightly-report", "examples")
    print(group)
    print(f"prefect run --name report-by-group --project examples --param flow_group_id={group} --watch")
