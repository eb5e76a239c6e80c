"""A parent of `n` runs of `agent-pid-sleeper` (each sleeps `seconds`), waiting for all of them."""
from prefect import Flow, Parameter, task, unmapped

from tasks_flowrun import create_flow_run, wait_for_flow_run


@task
def sleeper_parameters(n, workdir, seconds):
    return [{"workdir": workdir, "seconds": seconds} for _ in range(n)]


with Flow("agent-sleepers-parent") as flow:
    ids = create_flow_run.map(
        flow_name=unmapped("agent-pid-sleeper"), project_name=unmapped(Parameter("project")),
        parameters=sleeper_parameters(Parameter("n", default=5), Parameter("workdir"), Parameter("seconds", default=1)),
    )
    wait_for_flow_run(ids, raise_final_state=True)
