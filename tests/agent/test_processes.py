"""The agent's processes, end to end: a killed zygote is replaced and runs go on (its flow
processes, now watched by pid, are still reported when they die), and no zombie is left
behind by flow processes, their own children or a dead zygote."""
import os
import signal
import time
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from tests.agent.conftest import alive, children_of, zombies_of
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


def _zygotes(agent_pid: int) -> List[int]:
    """The agent's live zygotes (its flow processes, forked from one, lead sessions of their own)."""
    found = []
    for pid in children_of(agent_pid):
        try:
            zygote = b"tasks_flowrun.agent.zygote" in Path(f"/proc/{pid}/cmdline").read_bytes()
            if zygote and alive(pid) and os.getsid(pid) != pid:
                found.append(pid)
        except OSError:
            pass
    return found


def _pids(workdir: Path, flow_run_id: str, attempt: int = 1) -> Tuple[int, int]:
    path = workdir / f"{flow_run_id}.pids"

    def written() -> Optional[str]:
        lines = path.read_text().splitlines() if path.exists() else []
        return lines[attempt - 1] if len(lines) >= attempt else None

    flow_pid, sleeper_pid = wait_until(written, timeout=60, interval=0.05, what=str(path)).split()
    return int(flow_pid), int(sleeper_pid)


def test_a_killed_zygote_is_replaced_and_runs_go_on(own_agent, tmp_path):
    agent = own_agent(limit=4)
    sleeper = agent.register("pid_sleeper.py")
    quick = agent.register("quick.py")
    survivor = agent.start(sleeper, workdir=str(tmp_path), seconds=6)
    orphan = agent.start(sleeper, workdir=str(tmp_path), seconds=120)
    survivor_pid, _ = _pids(tmp_path, survivor)
    orphan_pid, orphan_sleep = _pids(tmp_path, orphan)
    [zygote] = wait_until(lambda: _zygotes(agent.process.pid), timeout=30, what="the zygote")
    os.kill(zygote, signal.SIGKILL)
    [replacement] = wait_until(lambda: [z for z in _zygotes(agent.process.pid) if z != zygote] or None,
                               timeout=30, what=lambda: f"a new zygote; agent log: {agent.log_text()[-2000:]}")
    assert replacement != zygote
    # the dead zygote's flow processes live on, adopted by the agent
    assert alive(survivor_pid) and alive(orphan_pid)
    # a run created now is forked from the new zygote
    fresh = agent.start(quick, x=1)
    assert agent.final(fresh, timeout=60)["state"] == "Success"
    # a flow process of the dead zygote that finishes is seen to finish...
    run = agent.final(survivor, timeout=60)
    assert run["state"] == "Success" and run["times_resurrected"] == 0, run
    # ... and one that dies is still reported at once (watched by pid), then rerun
    os.kill(orphan_pid, signal.SIGKILL)
    wait_until(lambda: agent.run(orphan)["times_resurrected"] == 1, timeout=10, interval=0.05,
               what=lambda: f"the orphan's run to be rescheduled; agent log: {agent.log_text()[-2000:]}")
    run = agent.final(orphan, timeout=60)
    assert run["state"] == "Success" and run["times_resurrected"] == 1, run
    assert _pids(tmp_path, orphan, attempt=2)[0] not in (orphan_pid, survivor_pid)
    wait_until(lambda: not alive(orphan_sleep), timeout=10, what="the killed process's group to be killed")
    wait_until(lambda: not zombies_of(agent.process.pid, replacement), timeout=10,
               what=lambda: f"no zombies; found {zombies_of(agent.process.pid, replacement)}")
    assert "watched by pid" in agent.log_text() and "New warm zygote ready" in agent.log_text()


def test_flow_processes_and_what_they_leave_behind_are_reaped(own_agent, tmp_path):
    """Runs that end normally, runs killed mid-task (their `sleep` children orphaned until
    the agent kills the group): afterwards neither the agent nor its zygote has a zombie."""
    agent = own_agent(limit=4)
    sleeper = agent.register("pid_sleeper.py")
    quick = agent.register("quick.py")
    finished = [agent.start(quick, x=i) for i in range(6)]
    killed = [agent.start(sleeper, workdir=str(tmp_path), seconds=60) for _ in range(2)]
    for run_id in killed:
        os.kill(_pids(tmp_path, run_id)[0], signal.SIGKILL)
    for run_id in finished + killed:
        assert agent.final(run_id, timeout=90)["state"] == "Success"
    [zygote] = _zygotes(agent.process.pid)
    deadline = time.monotonic() + 10
    while zombies_of(agent.process.pid, zygote) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert zombies_of(agent.process.pid, zygote) == []
