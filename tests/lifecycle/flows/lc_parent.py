"""Parent of the lifecycle tests: one child per index in `range(n)`, then one wait that
fails unless every child succeeded. `slow_params` (0.2 s each, depth-first with the Dask
executor) spreads the creates out, so a test can kill the parent mid fan-out; it also
records the parent's process id."""
import os
import time
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task, unmapped
from prefect.executors import LocalDaskExecutor

from tasks_flowrun import create_flow_run, wait_for_flow_run


@task
def indexes(n):
    return list(range(n))


@task
def slow_params(index, workdir, mode):
    (Path(workdir) / f"{prefect.context.flow_run_id}.parent-pid").write_text(str(os.getpid()))
    time.sleep(0.2)
    return {"workdir": workdir, "mode": mode}


with Flow("lc-parent", executor=LocalDaskExecutor(scheduler="threads", num_workers=2)) as flow:
    workdir, mode = Parameter("workdir"), Parameter("mode", default="quick")
    params = slow_params.map(indexes(Parameter("n", default=1)), unmapped(workdir), unmapped(mode))
    ids = create_flow_run.map(
        flow_name=unmapped("lc-child"), project_name=unmapped(Parameter("project")), parameters=params
    )
    wait_for_flow_run(ids, raise_final_state=True)
