"""The flow runs this agent has running: which process runs which run, and stopping them."""
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


@dataclass
class RunningRun:
    """One flow process: its run, its pid (also its process group: it called setsid)."""

    flow_run_id: str
    pid: int
    started: float
    cancel_started: Optional[float] = None  # when the agent sent SIGTERM to stop a cancelled run
    killed: bool = False  # SIGKILL sent


class RunTable:
    """Thread-safe map of the agent's flow processes (deploy threads add, the reaper removes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_pid: Dict[int, RunningRun] = {}
        self._early_exits: Dict[int, Tuple[int, bool]] = {}  # exits heard before `add`

    def add(self, flow_run_id: str, pid: int) -> Optional[Tuple[int, bool]]:
        """Track a new process; returns (status, clean) if it already exited."""
        with self._lock:
            early = self._early_exits.pop(pid, None)
            if early is None:
                self._by_pid[pid] = RunningRun(flow_run_id, pid, time.monotonic())
            return early

    def finished(self, pid: int, status: int, clean: bool) -> Optional[RunningRun]:
        """Forget the process that exited; returns its run (None if not added yet)."""
        with self._lock:
            run = self._by_pid.pop(pid, None)
            if run is None:
                self._early_exits[pid] = (status, clean)
            return run

    def runs(self) -> List[RunningRun]:
        with self._lock:
            return list(self._by_pid.values())

    def run_ids(self) -> List[str]:
        with self._lock:
            return [r.flow_run_id for r in self._by_pid.values()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_pid)


def signal_group(pid: int, sig: int) -> bool:
    """Send `sig` to the process group led by `pid`; False when the group is gone."""
    try:
        os.killpg(pid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # pid reused by someone else's process
        return False


def stop_group(run: RunningRun, grace: float) -> None:
    """SIGTERM the run's group at first; SIGKILL it once `grace` seconds have passed."""
    now = time.monotonic()
    if run.cancel_started is None:
        run.cancel_started = now
        signal_group(run.pid, signal.SIGTERM)
    elif not run.killed and now - run.cancel_started >= grace:
        run.killed = True
        signal_group(run.pid, signal.SIGKILL)
