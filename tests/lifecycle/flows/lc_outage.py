"""Flow of the backend-outage tests (tests/lifecycle/test_backend_outages.py).

- `work` records each start of itself (its process id) in `<workdir>/<run id>.starts`, then
  waits (up to 3 minutes) for `<workdir>/release`;
- `after` runs once `work` succeeded and records itself in `<workdir>/<run id>.after`;
- with `hold_first`, the first process deployed for a run stops before it reports Running
  (in a flow state handler, which Prefect's runner calls before it sends the Running state
  with the version it read) and waits for `<workdir>/go`, recording its pid in
  `<workdir>/<run id>.held`;
- with `hog` seconds, `work` holds the interpreter lock that long (after a short sleep that
  lets the flow process poll its run once): its poll thread and any heartbeat thread starve.
"""
import os
import sys
import time
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task

WAIT_SECONDS = 180


def _file(workdir: str, suffix: str) -> Path:
    return Path(workdir) / f"{prefect.context.flow_run_id}.{suffix}"


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def hold_first_deployment(flow, old_state, new_state):
    parameters = prefect.context.get("parameters") or {}
    if new_state.is_running() and parameters.get("hold_first"):
        try:
            fd = os.open(_file(parameters["workdir"], "held"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return new_state  # a later deployment: go on
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        _wait_for(Path(parameters["workdir"]) / "go")
    return new_state


def _hog(seconds: float) -> None:
    """Hold the interpreter lock for `seconds`: no other thread of this process runs."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds + 30)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pass
    finally:
        sys.setswitchinterval(previous)


@task
def work(workdir, hog):
    with open(_file(workdir, "starts"), "a") as handle:
        handle.write(f"{os.getpid()}\n")
    if hog:
        time.sleep(4)  # the flow process polls its run meanwhile
        _hog(hog)
        return "hogged"
    _wait_for(Path(workdir) / "release")
    return "released"


@task
def after(workdir, _done):
    with open(_file(workdir, "after"), "a") as handle:
        handle.write(f"{os.getpid()}\n")


with Flow("lc-outage", state_handlers=[hold_first_deployment]) as flow:
    workdir = Parameter("workdir")
    after(workdir, work(workdir, Parameter("hog", default=0)))
flow.add_task(Parameter("hold_first", default=False))
