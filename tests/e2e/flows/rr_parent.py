"""Parent of the restart tests: records its process id and attempts
(`<workdir>/<run id>.parent`), creates one rr_child per entry of `firsts` (`pace` seconds
apart), and waits for all of them (failing unless every one succeeded)."""
import os
import time
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task, unmapped

from tasks_flowrun import create_flow_run, wait_for_flow_run


@task
def parameters(firsts, workdir, pace):
    with open(Path(workdir) / f"{prefect.context.flow_run_id}.parent", "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return [{"x": x, "first": first, "workdir": workdir, "pace": pace} for x, first in enumerate(firsts)]


@task
def paced(params):
    time.sleep(params.pop("pace"))
    return params


with Flow("rr-parent") as flow:
    ids = create_flow_run.map(
        flow_name=unmapped("rr-child"), project_name=unmapped(Parameter("project")),
        parameters=paced.map(parameters(Parameter("firsts"), Parameter("workdir"), Parameter("pace", default=0.0))),
    )
    wait_for_flow_run(ids, raise_final_state=True)
