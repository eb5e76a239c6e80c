"""End-to-end parent, ours: create N children (mapped) and wait for all of them in one bulk wait."""
from prefect import Flow, Parameter, task, unmapped

from tasks_flowrun import create_flow_run, wait_for_flow_run


@task
def as_parameters(n):
    return [{"x": i} for i in range(n)]


with Flow("bench-e2e-parent-ours") as flow:
    project = Parameter("project")
    n = Parameter("n", default=20)
    ids = create_flow_run.map(
        flow_name=unmapped("bench-child"), project_name=unmapped(project), parameters=as_parameters(n)
    )
    wait_for_flow_run(ids, raise_final_state=True)
