"""Parent: creates one mapped child per element of `xs` (by name) and waits for all."""
from prefect import Flow, Parameter, task, unmapped

from tasks_flowrun import create_flow_run, wait_for_flow_run


@task
def as_parameters(xs):
    return [{"x": x} for x in xs]


with Flow("fanout-parent") as flow:
    project = Parameter("project")
    xs = Parameter("xs", default=[1, 2, 3, 4, 5])
    ids = create_flow_run.map(
        flow_name=unmapped("child"), project_name=unmapped(project), parameters=as_parameters(xs)
    )
    wait_for_flow_run(ids, raise_final_state=True, stream_logs=True)
