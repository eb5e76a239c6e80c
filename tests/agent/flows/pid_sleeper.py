"""A flow for the agent's own tests: its task records its process id (and that of a `sleep`
it starts, in its process group) in `<workdir>/<flow run id>.pids`, then sleeps `seconds`
on the run's first attempt only (a rerun after its process was killed finishes at once)."""
import os
import subprocess
import time
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task


@task
def work(workdir, seconds):
    path = Path(workdir) / f"{prefect.context.flow_run_id}.pids"
    first = not path.exists()
    sleeper = subprocess.Popen(["sleep", "300"])
    with open(path, "a") as handle:
        handle.write(f"{os.getpid()} {sleeper.pid}\n")
    try:
        if first:
            time.sleep(seconds)
    finally:
        sleeper.kill()
        sleeper.wait()
    return "done"


with Flow("agent-pid-sleeper") as flow:
    work(Parameter("workdir"), Parameter("seconds", default=2))
