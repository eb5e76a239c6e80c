"""The chaos suite's two flows, registered from this file (Local storage, as a script).

`chaos-parent` plans one parameter set per child, creates the children with
`tasks_flowrun.create_flow_run.map` and waits for them all with `wait_for_flow_run`.
`chaos-child` runs `prepare`, then `work` mapped over `steps` items (each sleeping
`seconds`), then `finish`.

Both leave evidence the suite counts (tests/chaos/evidence.py reads it):

- every task execution creates its own file `<workdir>/executions/<flow run id>.<task>.
  <map index>.<pid>[.<n>]` holding a `started` line, and appends `ended` when the task body
  returns or raises, so a file without `ended` is an execution its process never finished;
- every process that runs a flow run creates `<workdir>/processes/<flow run id>.<pid>` when
  the run enters Running, so the suite knows which process to signal.

The tasks' results are `PrefectResult`s (kept in the backend), so a rerun never has to
execute a finished upstream task again for its value.
"""
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

import prefect
from prefect import Flow, Parameter, task, unmapped
from prefect.engine.results import PrefectResult

from tasks_flowrun import create_flow_run, wait_for_flow_run


def _create_exclusively(path: Path, text: str) -> Path:
    """Create a new file (`path`, else `path.2`, `path.3`...) holding `text`."""
    candidate, n = path, 1
    while True:
        try:
            fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            n += 1
            candidate = path.with_name(f"{path.name}.{n}")
            continue
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        return candidate


@contextmanager
def execution(workdir: str, name: str) -> Iterator[None]:
    """One marker file for this execution of task `name`: `started` now, `ended` at the end."""
    context = prefect.context
    map_index = context.get("map_index")
    map_index = -1 if map_index is None else map_index
    folder = Path(workdir) / "executions"
    folder.mkdir(parents=True, exist_ok=True)
    path = _create_exclusively(folder / f"{context.flow_run_id}.{name}.{map_index}.{os.getpid()}",
                               f"started {time.time():.3f}\n")
    try:
        yield
    finally:
        with open(path, "a") as handle:
            handle.write(f"ended {time.time():.3f}\n")


def record_process(flow, old_state, new_state):
    """Flow state handler: note which process runs the flow run, when it enters Running."""
    if new_state.is_running():
        workdir = prefect.context.parameters.get("workdir")
        if workdir:
            folder = Path(workdir) / "processes"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{prefect.context.flow_run_id}.{os.getpid()}").write_text(f"{time.time():.3f}\n")
    return new_state


# --- the child ------------------------------------------------------------------------------


@task(result=PrefectResult())
def prepare(workdir: str, steps: int, seconds: float) -> List[int]:
    with execution(workdir, "prepare"):
        time.sleep(seconds / 4)
        return list(range(steps))


@task(result=PrefectResult())
def work(step: int, workdir: str, seconds: float) -> int:
    with execution(workdir, "work"):
        time.sleep(seconds)
        return step


@task(result=PrefectResult())
def finish(workdir: str, done: List[int], seconds: float) -> int:
    with execution(workdir, "finish"):
        time.sleep(seconds / 4)
        return len(done)


with Flow("chaos-child", state_handlers=[record_process]) as child_flow:
    child_workdir = Parameter("workdir")
    child_seconds = Parameter("seconds", default=3.0)
    items = prepare(child_workdir, Parameter("steps", default=3), child_seconds)
    finish(child_workdir, work.map(items, unmapped(child_workdir), unmapped(child_seconds)), child_seconds)


# --- the parent -----------------------------------------------------------------------------


@task(result=PrefectResult())
def plan(workdir: str, n: int, steps: int, seconds: float) -> List[dict]:
    with execution(workdir, "plan"):
        return [{"workdir": workdir, "steps": steps, "seconds": seconds} for _ in range(n)]


with Flow("chaos-parent", state_handlers=[record_process]) as parent_flow:
    parent_workdir = Parameter("workdir")
    children = create_flow_run.map(
        flow_name=unmapped("chaos-child"),
        project_name=unmapped(Parameter("project")),
        parameters=plan(parent_workdir, Parameter("n", default=20), Parameter("steps", default=3),
                        Parameter("seconds", default=3.0)),
    )
    wait_for_flow_run(children, raise_final_state=True)
