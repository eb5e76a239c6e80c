"""The parent/child lifecycle end to end, through the real LocalAgent, with processes killed
by SIGKILL: dead children and parents are recovered, restarts and retries resume failed
children in place, cancellations propagate and count as failures, Paused runs are left alone.

The backend here has a 10 s heartbeat timeout and a budget of one reschedule per run.
"""
import time
from pathlib import Path

import pytest

from tasks_flowrun import restart_flow_run
from tests.helpers import wait_until
from tests.lifecycle.conftest import heartbeat_processes, kill, kill_processes_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow_fault]


def _pid_of(workdir: str, flow_run_id: str, suffix: str = "pids", attempt: int = 1) -> int:
    path = Path(workdir) / f"{flow_run_id}.{suffix}"

    def written():
        lines = path.read_text().split() if path.exists() else []
        return int(lines[attempt - 1]) if len(lines) >= attempt else None

    return wait_until(written, timeout=60, interval=0.1, what=f"{path} (attempt {attempt})")


def _only_child(lifecycle, parent_id: str) -> dict:
    children = wait_until(lambda: lifecycle.children(parent_id), timeout=60, what="the child run")
    assert len(children) == 1, children
    return children[0]


def _task_state(lifecycle, flow_run_id: str, slug_prefix: str) -> str:
    [state] = [t["state"] for t in lifecycle.run(flow_run_id)["task_runs"]
               if t["task"]["slug"].startswith(slug_prefix) and t["map_index"] == -1]
    return state


@pytest.mark.parametrize("heartbeat_too", [False, True], ids=["orphaned-heartbeat", "heartbeat-killed-too"])
def test_a_killed_child_reruns_its_unfinished_task_and_the_parent_succeeds(lifecycle, workdir, heartbeat_too):
    parent_flow = lifecycle.register("lc_parent.py")
    lifecycle.register("lc_child.py")
    parent = lifecycle.start(parent_flow, project=lifecycle.project, workdir=workdir, mode="hang", n=1)
    child = _only_child(lifecycle, parent)["id"]
    pid = _pid_of(workdir, child)
    heartbeats = wait_until(lambda: heartbeat_processes(child), timeout=30, what="the child's heartbeat process")
    killed_at = time.monotonic()
    kill([pid] + (heartbeats if heartbeat_too else []))
    (Path(workdir) / "release").write_text("the rerun may finish")
    try:
        final = lifecycle.final(parent, timeout=60)
        took = time.monotonic() - killed_at
    finally:
        kill_processes_of(child)
    assert final["state"] == "Success", final
    run = lifecycle.run(child)
    assert run["state"] == "Success" and run["times_resurrected"] == 1, run
    assert (Path(workdir) / f"{child}.prepare").read_text().count("x") == 1  # done work is kept
    assert len((Path(workdir) / f"{child}.pids").read_text().split()) == 2  # `work` ran again
    print(f"child killed -> parent Success in {took:.1f} s")


def test_a_child_that_keeps_dying_fails_itself_and_its_parent(lifecycle, workdir):
    parent_flow = lifecycle.register("lc_parent.py")
    lifecycle.register("lc_child.py")
    parent = lifecycle.start(parent_flow, project=lifecycle.project, workdir=workdir, mode="die", n=1)
    child = _only_child(lifecycle, parent)["id"]
    first_death = (_pid_of(workdir, child), time.monotonic())[1]
    try:
        final = lifecycle.final(parent, timeout=90)
        took = time.monotonic() - first_death
    finally:
        kill_processes_of(child)
    run = lifecycle.run(child)
    assert run["state"] == "Failed" and "after 1 reschedules" in run["state_message"], run
    assert final["state"] == "Failed", final
    assert _task_state(lifecycle, parent, "wait_for_flow_run") == "Failed"
    print(f"child kept dying -> parent Failed {took:.1f} s after the first death")


def test_a_parent_killed_mid_fan_out_is_rerun_with_one_child_per_map_index(lifecycle, workdir):
    parent_flow = lifecycle.register("lc_parent.py")
    lifecycle.register("lc_child.py")
    parent = lifecycle.start(parent_flow, project=lifecycle.project, workdir=workdir, mode="quick", n=20)
    wait_until(lambda: len(lifecycle.children(parent)) >= 4, timeout=90, interval=0.05,
               what=lambda: f"the first children of {lifecycle.run(parent)}")
    pid = _pid_of(workdir, parent, suffix="parent-pid")
    before = len(lifecycle.children(parent))
    kill([pid] + heartbeat_processes(parent))
    try:
        final = lifecycle.final(parent, timeout=120)
    finally:
        kill_processes_of(parent)
    assert before < 20, "the parent was killed after its fan-out, not during it"
    assert final["state"] == "Success" and final["times_resurrected"] == 1, final
    children = lifecycle.children(parent)
    assert sorted(c["context"]["parent_map_index"] for c in children) == list(range(20))
    assert all(c["state"] == "Success" for c in children)


def test_restarting_a_failed_parent_restarts_its_failed_child_in_place(lifecycle, workdir):
    parent_flow = lifecycle.register("lc_parent.py")
    lifecycle.register("lc_child.py")
    parent = lifecycle.start(parent_flow, project=lifecycle.project, workdir=workdir, mode="flaky", n=1)
    assert lifecycle.final(parent, timeout=60)["state"] == "Failed"
    child = _only_child(lifecycle, parent)
    assert child["state"] == "Failed"

    assert restart_flow_run(parent, client=lifecycle.client)
    assert lifecycle.final(parent, timeout=60)["state"] == "Success"
    again = _only_child(lifecycle, parent)
    assert again["id"] == child["id"] and again["state"] == "Success"
    # only the failed task ran again: `prepare` succeeded the first time and kept its result
    assert (Path(workdir) / f"{child['id']}.prepare").read_text().count("x") == 1
    assert (Path(workdir) / f"{child['id']}.attempts").read_text().count("x") == 2


def test_a_retried_create_and_wait_task_restarts_its_failed_child(lifecycle, workdir):
    parent_flow = lifecycle.register("lc_retry_parent.py")
    lifecycle.register("lc_child.py")
    parent = lifecycle.start(parent_flow, project=lifecycle.project, workdir=workdir)
    assert lifecycle.final(parent, timeout=90)["state"] == "Success"
    child = _only_child(lifecycle, parent)
    assert child["state"] == "Success"
    assert (Path(workdir) / f"{child['id']}.attempts").read_text().count("x") == 2
    assert (Path(workdir) / f"{child['id']}.prepare").read_text().count("x") == 1


def test_a_cancelled_child_fails_its_parent(lifecycle, workdir):
    parent_flow = lifecycle.register("lc_parent.py")
    lifecycle.register("lc_child.py")
    parent = lifecycle.start(parent_flow, project=lifecycle.project, workdir=workdir, mode="sleep", n=1)
    child = _only_child(lifecycle, parent)["id"]
    wait_until(lambda: lifecycle.run(child)["state"] == "Running", timeout=60, what="the child to run")
    lifecycle.client.cancel_flow_run(child)
    final = lifecycle.final(parent, timeout=60)
    assert lifecycle.run(child)["state"] == "Cancelled"
    assert final["state"] == "Failed", final
    assert _task_state(lifecycle, parent, "wait_for_flow_run") == "Failed"


def test_cancelling_a_parent_cancels_its_running_children_within_ten_seconds(lifecycle, workdir):
    parent_flow = lifecycle.register("lc_parent.py")
    lifecycle.register("lc_child.py")
    parent = lifecycle.start(parent_flow, project=lifecycle.project, workdir=workdir, mode="sleep", n=2)
    wait_until(lambda: len(lifecycle.children(parent)) == 2
               and all(c["state"] == "Running" for c in lifecycle.children(parent)),
               timeout=60, what="both children to run")
    lifecycle.client.cancel_flow_run(parent)
    cancelled_at = time.monotonic()
    wait_until(lambda: all(c["state"] == "Cancelled" for c in lifecycle.children(parent)),
               timeout=10, interval=0.1, what="the children to be Cancelled")
    print(f"children Cancelled {time.monotonic() - cancelled_at:.1f} s after the parent was cancelled")
    assert lifecycle.final(parent, timeout=30)["state"] == "Cancelled"


def test_a_paused_task_keeps_its_run_untouched_past_the_heartbeat_timeout(lifecycle):
    flow_id = lifecycle.register("lc_paused.py")
    run_id = lifecycle.start(flow_id)
    wait_until(lambda: _task_state(lifecycle, run_id, "approve") == "Paused", timeout=60, what="the task to pause")
    time.sleep(15)  # longer than the 10 s heartbeat timeout, with no process and no heartbeat
    run = lifecycle.run(run_id)
    assert run["state"] == "Running" and run["times_resurrected"] == 0, run
    assert _task_state(lifecycle, run_id, "approve") == "Paused"
