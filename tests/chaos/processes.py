"""This machine's processes, read from /proc: which belong to a scenario, which runs a flow
run, and signals to them."""
import os
import signal
from pathlib import Path
from typing import List, Optional

from tests.chaos.evidence import Evidence


def _read(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def mentions(pid: int, text: str) -> bool:
    """Whether the process's command line or (initial) environment contains `text`."""
    needle = text.encode()
    return needle in _read(pid, "cmdline") or needle in _read(pid, "environ")


def processes_mentioning(text: str) -> List[int]:
    """Pids of the processes whose command line or environment contains `text` (not this one)."""
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and int(entry.name) != os.getpid() and mentions(int(entry.name), text)]


def is_alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (stopped counts as alive)."""
    stat = _read(pid, "stat")
    if not stat:
        return False
    state = stat.rsplit(b")", 1)[-1].split()[0]
    return state not in (b"Z", b"X")


def is_heartbeat_process(pid: int) -> bool:
    """A `prefect heartbeat flow-run` process (what Prefect's flow runner starts beside itself)."""
    return b"heartbeat" in _read(pid, "cmdline")


def flow_process(flow_run_id: str, evidence: Evidence, scenario_text: str) -> Optional[int]:
    """The live process running `flow_run_id`, or None.

    Processes forked by `tasks-flowrun agent` keep the environment of the warm process they
    were forked from in /proc (the run's own variables are set after the fork), so the run's
    process markers name the candidates: the newest one that is alive and is one of this
    scenario's processes (its environment names the scenario's folder). A process started by
    `prefect agent local start` also has the flow run id in its environment; the `prefect
    heartbeat` process beside it is never the one chosen.
    """
    for pid in reversed(evidence.processes(flow_run_id)):
        if is_alive(pid) and mentions(pid, scenario_text) and not is_heartbeat_process(pid):
            return pid
    return None


def send(pid: int, sig: int) -> bool:
    """Signal the process; False when it is gone."""
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def kill_all_mentioning(text: str) -> List[int]:
    """SIGKILL every process whose command line or environment contains `text` (the cleanup
    after a scenario: orphaned flow and heartbeat processes keep running otherwise)."""
    pids = processes_mentioning(text)
    for pid in pids:
        send(pid, signal.SIGKILL)
    return pids
