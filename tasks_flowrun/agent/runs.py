"""The flow runs this agent has running: which process runs which run, whether the run works
or waits on other runs, and stopping their process groups."""
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


@dataclass
class RunningRun:
    """One flow process: its run, its pid (also its process group: it called setsid).

    `deploy_version` is the run's `version` this agent read when it set the run Submitted
    (the backend stored that Submitted state with `deploy_version + 1`); None when the run
    was deployed without a Submitted state of this agent's (a retry picked up while Running).
    """

    flow_run_id: str
    pid: int
    started: float
    deploy_version: Optional[int] = None
    cancel_started: Optional[float] = None  # when the agent sent SIGTERM to stop a cancelled run
    killed: bool = False  # SIGKILL sent
    blocked_since: Optional[float] = None  # set while the run waits on other flow runs
    finished: bool = False  # its flow runner returned; the process is only exiting


class RunTable:
    """Thread-safe map of the agent's flow processes (deploy threads add, the reaper removes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_pid: Dict[int, RunningRun] = {}
        self._early_exits: Dict[int, Tuple[int, bool, bool]] = {}  # exits heard before `add`

    def add(self, run: RunningRun) -> Optional[Tuple[int, bool, bool]]:
        """Track a new process; returns (status, clean, unfinished) if it already exited."""
        with self._lock:
            early = self._early_exits.pop(run.pid, None)
            if early is None:
                self._by_pid[run.pid] = run
            return early

    def finished(self, pid: int, status: int, clean: bool, unfinished: bool = False) -> Optional[RunningRun]:
        """Forget the process that exited; returns its run (None if not added yet)."""
        with self._lock:
            run = self._by_pid.pop(pid, None)
            if run is None:
                self._early_exits[pid] = (status, clean, unfinished)
            return run

    def get(self, pid: int) -> Optional[RunningRun]:
        with self._lock:
            return self._by_pid.get(pid)

    def by_run_id(self, flow_run_id: str) -> Optional[RunningRun]:
        with self._lock:
            return next((r for r in self._by_pid.values() if r.flow_run_id == flow_run_id), None)

    def set_blocked(self, pid: int, blocked: bool) -> bool:
        """Mark the run of process `pid` blocked on other runs (or working again); True when
        that changed anything."""
        with self._lock:
            run = self._by_pid.get(pid)
            if run is None or (run.blocked_since is not None) == blocked:
                return False
            run.blocked_since = time.monotonic() if blocked else None
            return True

    def mark_finished(self, pid: int) -> bool:
        """The run of process `pid` finished; its process is exiting. True when it changed."""
        with self._lock:
            run = self._by_pid.get(pid)
            if run is None or run.finished:
                return False
            run.finished = True
            return True

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
