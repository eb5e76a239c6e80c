"""`WarmAgent`: a LocalAgent whose flow processes are forked from a warm zygote, at most
`limit` at a time, stopped by process group when cancelled, and reported when they die."""
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, List, Optional

from prefect.agent.agent import AGENT_WAKE_EVENT
from prefect.agent.local import LocalAgent
from prefect.serialization.storage import StorageSchema
from prefect.storage import Docker
from prefect.utilities.graphql import GraphQLResult

from .backend import ALIVE_STATES, CANCEL_STATES, Backend
from .environment import flow_run_environment
from .run_config import local_run_config
from .runs import RunningRun, RunTable, signal_group, stop_group
from .zygote_client import ZygoteClient

STATE_CHECK_PERIOD = 1.0  # seconds between looks at the states of this agent's runs
CANCEL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL of a cancelled run's group


def default_limit() -> int:
    """The CPU count, at least 2."""
    return max(2, os.cpu_count() or 1)


def describe_exit(pid: int, status: Optional[int]) -> str:
    if status is None:
        return f"its flow process (pid {pid}) is gone"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"its flow process (pid {pid}) was killed by {name}"
    return f"its flow process (pid {pid}) exited with code {status} before the run finished"


class WarmAgent(LocalAgent):
    """A Prefect 1 LocalAgent (same labels, `--env`, import paths, `LocalRun` env and
    working_dir, storages) that runs each flow run in a process forked from a warm zygote.

    Args (beyond LocalAgent's):
        - limit (int): flow runs at once; more stay Scheduled for other agents
            (default: the CPU count, at least 2)
        - poll_interval (float): longest wait between two looks for due runs (default 0.5 s)
        - preload (List[str]): modules the zygote imports before forking
        - stop_runs_on_exit (bool): kill the running flow processes when the agent stops
            (default: leave them running, as LocalAgent does)
    """

    def __init__(self, name: Optional[str] = None, labels: Optional[Iterable[str]] = None,
                 env_vars: Optional[dict] = None, import_paths: Optional[List[str]] = None,
                 show_flow_logs: bool = False, hostname_label: bool = True, limit: Optional[int] = None,
                 poll_interval: float = 0.5, preload: Iterable[str] = (), stop_runs_on_exit: bool = False,
                 max_polls: Optional[int] = None, no_cloud_logs: Optional[bool] = None) -> None:
        # Prefect annotates these without Optional although its own defaults are None
        super().__init__(name=name, labels=list(labels or []), env_vars=env_vars,  # type: ignore[arg-type]
                         import_paths=import_paths, show_flow_logs=show_flow_logs,  # type: ignore[arg-type]
                         hostname_label=hostname_label, max_polls=max_polls,  # type: ignore[arg-type]
                         no_cloud_logs=no_cloud_logs)  # type: ignore[arg-type]
        self.limit = limit or default_limit()
        self.poll_interval = poll_interval
        self.stop_runs_on_exit = stop_runs_on_exit
        self.heartbeat_period = STATE_CHECK_PERIOD  # type: ignore[assignment]  # the base class's public knob for `heartbeat()`
        self.runs = RunTable()
        self.backend = Backend(self.client, self.logger)
        self.zygote = ZygoteClient(list(preload), on_exit=self._on_process_exit, on_lost=self._on_lost)
        self._exits = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flow-process-exits")
        self._lost: set = set()
        self._stopping = threading.Event()

    # Agent hooks ----------------------------------------------------------------------

    def on_startup(self) -> None:
        self.zygote.start()
        self.logger.info("Warm zygote ready (pid %s); running at most %d flow runs at once",
                         self.zygote.pid, self.limit)
        threading.Thread(target=self._wake_periodically, name="poll-waker", daemon=True).start()

    def on_shutdown(self) -> None:
        self._stopping.set()
        if self.stop_runs_on_exit:
            for run in self.runs.runs():
                signal_group(run.pid, signal.SIGKILL)
        self.zygote.stop()
        self._exits.shutdown(wait=False)

    def deploy_flow(self, flow_run: GraphQLResult) -> str:
        """Fork a flow process for the run from the zygote; returns "PID: <pid>"."""
        storage = StorageSchema().load(flow_run.flow.storage)
        if isinstance(storage, Docker):
            self.logger.error("Flow run %s has an unsupported storage type: `Docker`", flow_run.id)
            raise TypeError("Unsupported Storage type: Docker")
        run_config = local_run_config(flow_run)
        working_dir = run_config.working_dir
        if working_dir and not os.path.exists(working_dir):
            raise ValueError(f"Flow run {flow_run.id} has a nonexistent `working_dir` configured: {working_dir}")
        explicit = {**(self.env_vars or {}), **(run_config.env or {})}
        env = flow_run_environment(self.populate_env_vars(flow_run, run_config=run_config), explicit)
        pid = self.zygote.spawn(env, working_dir, self.show_flow_logs)
        early_exit = self.runs.add(flow_run.id, pid)
        if early_exit is not None:
            self._exits.submit(self._after_exit, RunningRun(flow_run.id, pid, 0.0), *early_exit)
        self.logger.debug("Flow run %s runs in forked process %d", flow_run.id, pid)
        return f"PID: {pid}"

    def heartbeat(self) -> None:
        """Every second: stop the process groups of runs cancelled on the backend, and notice
        processes whose zygote died (nobody reaps them)."""
        super().heartbeat()
        self._check_lost()
        runs = self.runs.runs()
        if not runs:
            return
        states = self.backend.states([r.flow_run_id for r in runs])
        for run in runs:
            if run.cancel_started is None and states.get(run.flow_run_id) not in CANCEL_STATES:
                continue
            if run.cancel_started is None:
                self.logger.info("Flow run %s is %s: stopping its process group %d", run.flow_run_id,
                                 states.get(run.flow_run_id), run.pid)
            stop_group(run, CANCEL_GRACE)

    def _get_flow_run_metadata(self, flow_run_ids: Iterable[str]) -> List[GraphQLResult]:
        # Prefect 1's Agent has no public hook for how many runs to take: this method picks
        # the runs the loop deploys (and marks Submitted), so the limit applies here. Runs
        # left out stay Scheduled for other agents.
        busy = set(self.runs.run_ids()) | set(self.submitting_flow_runs)
        free = self.limit - len(busy)
        candidates = [i for i in flow_run_ids if i not in busy]
        if free <= 0 or not candidates:
            return []
        return super()._get_flow_run_metadata(candidates)[:free]

    # Flow process exits ---------------------------------------------------------------

    def _on_process_exit(self, pid: int, status: int, clean: bool) -> None:
        run = self.runs.finished(pid, status, clean)
        if run is not None:
            self._exits.submit(self._after_exit, run, status, clean)

    def _on_lost(self, pids: List[int]) -> None:
        if self._stopping.is_set():
            return
        self.logger.warning("The zygote exited; %d flow process(es) are watched by pid from now on", len(pids))
        self._lost.update(pids)

    def _check_lost(self) -> None:
        for pid in list(self._lost):
            try:
                os.kill(pid, 0)
                continue
            except ProcessLookupError:
                pass
            except PermissionError:
                pass  # pid reused by another user's process: ours is gone
            self._lost.discard(pid)
            run = self.runs.finished(pid, -1, False)
            if run is not None:
                self._after_exit(run, None, False)

    def _after_exit(self, run: RunningRun, status: Optional[int], clean: bool) -> None:
        """A flow process ended: finish its cancellation, or report it if it died mid-run."""
        AGENT_WAKE_EVENT.set()  # a slot is free: look for due runs now
        try:
            if run.cancel_started is not None:
                signal_group(run.pid, signal.SIGKILL)  # anything its flow started
                if self.backend.finish_cancellation(run.flow_run_id, "Cancelled: the agent stopped its flow process."):
                    self.logger.info("Flow run %s set Cancelled (its process group was stopped)", run.flow_run_id)
                return
            if clean:
                return  # finished, or waiting on purpose (Paused, a retry later)
            signal_group(run.pid, signal.SIGKILL)
            reason = describe_exit(run.pid, status)
            state = self.backend.state(run.flow_run_id)
            if state in ALIVE_STATES:
                self.logger.warning("Flow run %s is %s but %s", run.flow_run_id, state, reason)
                if self.backend.report_dead(run.flow_run_id, reason):
                    self.logger.info("Reported flow run %s to the backend for recovery", run.flow_run_id)
            elif state == "Cancelling":
                self.backend.finish_cancellation(run.flow_run_id, f"Cancelled: {reason}.")
        except Exception:
            self.logger.exception("Could not handle the exit of flow run %s", run.flow_run_id)

    def _wake_periodically(self) -> None:
        # The stock loop backs off up to 10 s when idle and has no public setting for it;
        # AGENT_WAKE_EVENT (what its /api/poke endpoint sets) wakes it, so waking it every
        # `poll_interval` caps the idle wait without touching its private intervals.
        while not self._stopping.wait(self.poll_interval):
            AGENT_WAKE_EVENT.set()
