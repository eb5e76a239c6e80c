"""`tasks-flowrun agent` end to end, against the embedded backend (heartbeat timeout 120 s):
its limit, its cancellation by process group, and its report of a killed flow process."""
import os
import signal
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

BUSY = ("Submitted", "Running")


def _pids(workdir: Path, flow_run_id: str, attempt: int = 1) -> Tuple[int, int]:
    """(flow process pid, its `sleep` grandchild's pid) of the run's attempt."""
    path = workdir / f"{flow_run_id}.pids"

    def written():
        lines = path.read_text().splitlines() if path.exists() else []
        return lines[attempt - 1] if len(lines) >= attempt else None

    flow_pid, sleeper_pid = wait_until(written, timeout=60, interval=0.05, what=str(path)).split()
    return int(flow_pid), int(sleeper_pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its new parent) is not alive
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_limit_two_never_runs_more_than_two_and_leaves_the_rest_scheduled(own_agent, client, tmp_path):
    agent = own_agent(limit=2)
    flow_id = agent.register("pid_sleeper.py")
    ids = [client.create_flow_run(flow_id=flow_id, parameters={"workdir": str(tmp_path), "seconds": 1.5})
           for _ in range(5)]
    most_busy, saw_waiting_while_full = 0, False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = agent.states(ids)
        busy = sum(s in BUSY for s in states.values())
        most_busy = max(most_busy, busy)
        saw_waiting_while_full |= busy == 2 and sum(s == "Scheduled" for s in states.values()) > 0
        if all(s == "Success" for s in states.values()):
            break
        time.sleep(0.05)
    assert all(s == "Success" for s in agent.states(ids).values()), agent.states(ids)
    assert most_busy == 2
    assert saw_waiting_while_full


def test_cancelling_a_run_kills_its_process_group_and_ends_it_cancelled(own_agent, client, tmp_path):
    agent = own_agent()
    flow_id = agent.register("pid_sleeper.py")
    run_id = client.create_flow_run(flow_id=flow_id, parameters={"workdir": str(tmp_path), "seconds": 120})
    flow_pid, sleeper_pid = _pids(tmp_path, run_id)
    assert os.getpgid(sleeper_pid) == flow_pid  # the flow process leads its own group
    cancelled_at = time.monotonic()
    client.cancel_flow_run(run_id)
    run = agent.final(run_id, timeout=30)
    took = time.monotonic() - cancelled_at
    assert run["state"] == "Cancelled", run
    assert all(t["state"] in ("Cancelled", "Success") for t in run["task_runs"]), run
    wait_until(lambda: not _alive(flow_pid) and not _alive(sleeper_pid), timeout=10,
               what="the flow process and its sleep to be gone")
    assert took < 10, f"cancelled after {took:.1f} s"
    print(f"cancel -> Cancelled, process group gone, in {took:.1f} s")


def test_a_killed_flow_process_is_reported_and_its_run_rerun_at_once(own_agent, client, tmp_path):
    agent = own_agent()
    flow_id = agent.register("pid_sleeper.py")
    run_id = client.create_flow_run(flow_id=flow_id, parameters={"workdir": str(tmp_path), "seconds": 120})
    flow_pid, sleeper_pid = _pids(tmp_path, run_id)
    wait_until(lambda: agent.run(run_id)["state"] == "Running", timeout=30, what="the run to be Running")
    killed_at = time.monotonic()
    os.kill(flow_pid, signal.SIGKILL)
    # rescheduled (the backend's heartbeat timeout is 120 s: only the agent's report explains this)
    wait_until(lambda: agent.run(run_id)["times_resurrected"] == 1, timeout=5, interval=0.05,
               what="the run to be rescheduled")
    rescheduled = time.monotonic() - killed_at
    run = agent.final(run_id, timeout=60)
    assert run["state"] == "Success" and run["times_resurrected"] == 1, run
    assert _pids(tmp_path, run_id, attempt=2)[0] != flow_pid  # a second process ran it again
    assert not _alive(sleeper_pid)  # the dead process's group was killed
    assert rescheduled < 2.0, f"rescheduled {rescheduled:.2f} s after the kill"
    print(f"kill -> rescheduled in {rescheduled:.2f} s, rerun Success in {time.monotonic() - killed_at:.1f} s")


def test_parents_nested_mapped_and_failing_runs_like_the_stock_agent(client, project, agent):
    """The session's agent is `tasks-flowrun agent`: parents fanning out, three levels, a
    mapped flow with a failing task and a failing child, all at once."""
    from tests.e2e.support import FLOWS as E2E_FLOWS, register_script as register_e2e
    from tests.tasks.conftest import register_script, runs_of_flow_named, wait_finished

    register_script("child.py", project)
    register_script("middle_parent.py", project)
    fanout = client.create_flow_run(flow_id=register_script("fanout_parent.py", project),
                                    parameters={"project": project})
    nested = client.create_flow_run(flow_id=register_script("grandparent.py", project),
                                    parameters={"project": project})
    failing = client.create_flow_run(flow_id=register_script("wait_outcome_parent.py", project),
                                     parameters={"project": project, "child_parameters": {"x": 1, "fail": True}})
    mapped_flow, _ = register_e2e(E2E_FLOWS / "mapped_with_failure.py", project)
    mapped = client.create_flow_run(flow_id=mapped_flow, parameters={"n": 3})

    assert wait_finished(fanout, timeout=180).state.is_successful()
    assert wait_finished(nested, timeout=180).state.is_successful()
    assert wait_finished(failing, timeout=180).state.is_failed()
    assert wait_finished(mapped, timeout=180).state.is_failed()  # its failing task fails it
    children: List[dict] = runs_of_flow_named(client, "child", project)
    by_parent = {}
    for child in children:
        by_parent.setdefault(child["context"]["parent_flow_run_id"], []).append(child["state"])
    assert sorted(by_parent[fanout]) == ["Success"] * 5
    assert by_parent[failing] == ["Failed"]
    [middle] = runs_of_flow_named(client, "middle-parent", project)
    assert middle["state"] == "Success" and by_parent[middle["id"]] == ["Success"]
