"""Vouching for the flow runs whose processes this agent sees alive.

A flow process heartbeats from a thread of its own. A task that holds the interpreter lock
for long (a long call into C that does not release it) starves that thread and the
process's cancellation checks, and the backend would judge a live run dead after its
heartbeat timeout and start it again beside itself. The agent knows better: its flow
processes are its zygote's children (reaped the moment they exit), or watched by pid after
a zygote loss. Every `period` seconds it tells the backend, in one request
(`report_live_flow_runs`), which of its runs have a process that lives (not a zombie).
A process stopped by SIGSTOP (a debugger, an operator, a suspended container) lives too:
when it is continued it finishes the task it was in, so judging it dead would run that task
a second time elsewhere; it keeps its run for as long as it exists. The backend counts that as a heartbeat and
a sign of life of the flow process, for the agent's own deployment of each run only. A
process that exits is reported dead at once instead (see `warm_agent.py`).

Against a backend without that mutation it sends Prefect's `update_flow_run_heartbeat`
per live run every `cloud.heartbeat_interval` seconds instead.
"""
import logging
import threading
import time
from typing import Callable, Dict, List, Optional

import prefect

from .backend import Backend
from .reaping import exists
from .runs import RunningRun

VOUCH_PERIOD = 2.0  # seconds between two batched reports: well under any heartbeat timeout


class Voucher:
    """
    The vouching thread.

    Args:
        - backend (Backend): the agent's backend calls
        - live_runs (callable): the agent's current flow processes
        - logger (logging.Logger): the agent's logger
        - period (float): seconds between two reports
    """

    def __init__(self, backend: Backend, live_runs: Callable[[], List[RunningRun]], logger: logging.Logger,
                 period: float = VOUCH_PERIOD) -> None:
        self.backend = backend
        self.live_runs = live_runs
        self.logger = logger
        self.period = period
        self.reports = 0  # batched requests sent
        self._beats: Dict[str, float] = {}  # fallback: run id -> monotonic time of its last heartbeat
        self._stop = threading.Event()

    def start(self) -> "Voucher":
        threading.Thread(target=self._loop, name="vouch-live-runs", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.vouch()
            except Exception:
                self.logger.warning("Could not vouch for the live flow runs", exc_info=True)

    def vouch(self) -> Optional[List[str]]:
        """One round: report the runs whose processes exist (stopped ones included); returns
        what the backend counted as live (None on the fallback)."""
        runs = [r for r in self.live_runs() if not r.finished and exists(r.pid)]
        fenced = [(r.flow_run_id, r.deploy_version) for r in runs if r.deploy_version is not None]
        live = self.backend.report_live(fenced) if fenced else []  # type: ignore[arg-type]
        if fenced:
            self.reports += 1
        unvouched = [r for r in runs if r.deploy_version is None or live is None]
        self._heartbeat(unvouched)
        return live

    def _heartbeat(self, runs: List[RunningRun]) -> None:
        """The fallback: Prefect's heartbeat per run, every `cloud.heartbeat_interval` s."""
        now = time.monotonic()
        interval = float(prefect.config.cloud.heartbeat_interval)
        current = {r.flow_run_id for r in runs}
        for run_id in list(self._beats):
            if run_id not in current:
                del self._beats[run_id]
        for run in runs:
            if now - self._beats.get(run.flow_run_id, float("-inf")) >= interval:
                self._beats[run.flow_run_id] = now
                self.backend.heartbeat(run.flow_run_id)
