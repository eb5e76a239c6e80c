"""End-to-end parent, peer: Prefect 1.4.1's own tasks, as their docs use them with mapping
(`create_flow_run.map` then `wait_for_flow_run.map`: one wait per child)."""
from prefect import Flow, Parameter, task, unmapped
from prefect.tasks.prefect import create_flow_run, wait_for_flow_run


@task
def as_parameters(n):
    return [{"x": i} for i in range(n)]


with Flow("bench-e2e-parent-peer") as flow:
    project = Parameter("project")
    n = Parameter("n", default=20)
    ids = create_flow_run.map(
        flow_name=unmapped("bench-child"), project_name=unmapped(project), parameters=as_parameters(n)
    )
    wait_for_flow_run.map(ids, raise_final_state=unmapped(True))
