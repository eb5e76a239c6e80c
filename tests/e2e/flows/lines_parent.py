"""Parent of the log tests: `n` children (lines_child.py), one wait streaming their logs."""
from prefect import Flow, Parameter, task, unmapped

from tasks_flowrun import create_flow_run, wait_for_flow_run


@task
def parameters(n, workdir):
    return [{"x": x, "workdir": workdir} for x in range(n)]


with Flow("lines-parent") as flow:
    ids = create_flow_run.map(flow_name=unmapped("lines-child"), project_name=unmapped(Parameter("project")),
                              parameters=parameters(Parameter("n"), Parameter("workdir")))
    wait_for_flow_run(ids, stream_logs=True, stream_states=False, raise_final_state=True)
