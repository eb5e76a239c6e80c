"""Recovery: a fan-out where one child fails on its first attempt; the restarted parent completes.

How to run (a Prefect 1 backend and a LocalAgent running, see the README):

    prefect create project examples
    prefect register -p examples/parent_flows/recovery.py --project examples
    python examples/parent_flows/recovery.py --project examples

The script runs the parent once (it ends Failed: child 2 failed, and the waiting task says
so), then restarts it as Prefect's UI would (`tasks_flowrun.restart_flow_run`): the parent's
wait restarts the failed child in place (same flow run id; its `load` task keeps its
result, only `transform` runs again) and the parent ends Success. Restarting from the
Prefect UI, or giving the waiting task `max_retries`, recovers the same way.
"""
import argparse
import tempfile
import time
from pathlib import Path

import prefect
from prefect import Flow, Parameter, task, unmapped
from prefect.backend import FlowRunView
from prefect.engine.results import LocalResult
from prefect.utilities.graphql import with_args

from tasks_flowrun import create_flow_run, restart_flow_run, wait_for_flow_run

MARKERS = str(Path(tempfile.gettempdir()) / "tasks_flowrun-recovery-example")


# --- the child: load a batch, transform it (batch 2 fails the first time) ----------------
@task
def load(batch: int) -> list:
    return list(range(batch * 10, batch * 10 + 10))


@task
def transform(rows: list, flaky: bool, markers: str) -> int:
    """Sum the rows; a `flaky` batch fails on the first attempt of its flow run."""
    marker = Path(markers) / f"{prefect.context.flow_run_id}.tried"
    if flaky and not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("the first attempt failed")
        raise RuntimeError("a transient error (the first attempt of this batch always fails)")
    return sum(rows)


# LocalResult: task results are persisted, so a restart reruns only what failed (without a
# Result, `load` would run again too, since `transform` needs its value).
with Flow("recovery-child", result=LocalResult()) as child:
    transform(load(Parameter("batch", default=0)), Parameter("flaky", default=False),
              Parameter("markers", default=MARKERS))


# --- the parent: three batches, one wait that fails unless every child succeeded ----------
@task
def batch_parameters(markers: str) -> list:
    return [{"batch": i, "flaky": i == 2, "markers": markers} for i in range(3)]


with Flow("recovery-parent") as flow:
    project = Parameter("project", default="examples")
    batches = batch_parameters(Parameter("markers", default=MARKERS))
    ids = create_flow_run.map(
        flow_name=unmapped("recovery-child"), project_name=unmapped(project), parameters=batches
    )
    wait_for_flow_run(ids, raise_final_state=True)


def run_and_recover(project: str, timeout: float = 180.0) -> str:
    """Run the registered parent; if it fails, restart it once; return its final state."""
    client = prefect.Client()
    [found] = client.graphql(
        {"query": {with_args("flow", {"where": {
            "name": {"_eq": "recovery-parent"}, "project": {"name": {"_eq": project}},
            "archived": {"_eq": False}}}): {"id"}}}
    ).data.flow
    parent = client.create_flow_run(flow_id=found.id, parameters={"project": project})
    state = _final(parent, timeout)
    print(f"first run of {parent}: {type(state).__name__}: {state.message}")
    if state.is_failed() and restart_flow_run(parent, client=client):
        state = _final(parent, timeout)
        print(f"after the restart: {type(state).__name__}: {state.message}")
    return type(state).__name__


def _final(flow_run_id: str, timeout: float) -> "prefect.engine.state.State":
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = FlowRunView.from_flow_run_id(flow_run_id).state
        if state.is_finished():
            return state
        time.sleep(1.0)
    raise TimeoutError(f"flow run {flow_run_id} did not finish within {timeout} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run recovery-parent, restart it if it fails.")
    parser.add_argument("--project", default="examples")
    args = parser.parse_args()
    raise SystemExit(0 if run_and_recover(args.project) == "Success" else 1)
