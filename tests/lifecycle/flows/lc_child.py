"""Child flow of the lifecycle tests; what its `work` task does depends on `mode`:

- "quick": returns at once;
- "hang": records its process id, then waits (up to 2 minutes) for `<workdir>/release`;
- "flaky": fails on the first attempt of the run, succeeds on later ones;
- "die": records its process id and kills its own process (SIGKILL), every time;
- "sleep": sleeps up to a minute (something to cancel).

`prepare` runs before `work` and counts its own executions in `<run id>.prepare`, so a test
can tell that a successful task is not run again by a restart (its result is persisted:
the flow has a `LocalResult`, under the Prefect home of the flow process).
"""
import os
import signal
import time
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task
from prefect.engine.results import LocalResult


def _mark(workdir: str, suffix: str, text: str = "x") -> Path:
    path = Path(workdir) / f"{prefect.context.flow_run_id}.{suffix}"
    with open(path, "a") as handle:
        handle.write(text + "\n")
    return path


@task
def prepare(workdir):
    _mark(workdir, "prepare")
    return 1


@task
def work(workdir, mode, _ready):
    if mode == "hang":
        _mark(workdir, "pids", str(os.getpid()))
        deadline = time.monotonic() + 120
        while not (Path(workdir) / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    elif mode == "flaky":
        attempts = len(_mark(workdir, "attempts").read_text().split())
        if attempts == 1:
            raise RuntimeError("the first attempt of this child fails")
    elif mode == "die":
        _mark(workdir, "pids", str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "sleep":
        time.sleep(60)
    return mode


with Flow("lc-child", result=LocalResult()) as flow:
    workdir = Parameter("workdir")
    work(workdir, Parameter("mode", default="quick"), prepare(workdir))
