"""`WarmAgent`: a LocalAgent whose flow processes are forked from a warm zygote, at most
`limit` working at a time (runs waiting on other runs apart), stopped by process group when
cancelled, vouched for while they live and reported the moment they die."""
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import pendulum
from prefect import Client, config
from prefect.agent.agent import AGENT_WAKE_EVENT
from prefect.run_configs import LocalRun
from prefect.serialization.state import StateSchema
from prefect.serialization.storage import StorageSchema
from prefect.storage import Docker
from prefect.utilities.graphql import GraphQLResult

from ..prefect_private import LocalAgentLoop
from .admission import SlotRule, default_limit, default_max_blocked, depth_first
from .backend import ALIVE_STATES, CANCEL_STATES, Backend
from .environment import flow_run_environment, without_run_ids
from .pickup import DuePickup
from .reaping import become_subreaper, exists, reap_zombies, wait_nohang
from .run_config import local_run_config
from .runs import RunningRun, RunTable, signal_group, stop_group
from .slots_channel import SlotChannel
from .vouching import Voucher
from .zygote_client import ZygoteClient, ZygoteError

__all__ = ["WarmAgent", "default_limit", "describe_exit"]

STATE_CHECK_PERIOD = 1.0  # seconds between looks at the states of this agent's runs
CANCEL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL of a cancelled run's group
ZOMBIE_SWEEP_PERIOD = 5.0  # seconds between looks for exited orphans adopted by the agent
ZYGOTE_RETRY_PERIOD = 5.0  # seconds between attempts to start a zygote that failed to start
RELOOK_DELAY = 0.25  # seconds before looking again when other agents took some of the runs offered
SAFETY_POLL = 10.0  # seconds between the loop's own looks for due runs (see `safety_poll`)


def _start_time(flow_run: GraphQLResult) -> "pendulum.DateTime":
    """When the run may start: its Scheduled state's start time (now for other states)."""
    start = getattr(StateSchema().load(flow_run.serialized_state), "start_time", None)
    return start if start is not None else pendulum.now("UTC")


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


RETURNED_UNFINISHED_REASON = "its flow runner returned with the run still Running and no task run waiting for its time"


class WarmAgent(LocalAgentLoop):
    """A Prefect 1 LocalAgent (same labels, `--env`, import paths, `LocalRun` env and
    working_dir, storages) that runs each flow run in a process forked from a warm zygote.

    Args (beyond LocalAgent's):
        - limit (int): flow runs working at once (runs waiting on other flow runs inside the
            tasks' `blocked_on_children()` are not counted); more due runs stay Scheduled
            for other agents (default: twice the CPU count, see `admission.default_limit`)
        - max_blocked (int): waiting runs not counted against `limit` (default: from the
            machine's memory, see `admission.default_max_blocked`)
        - poll_interval (float): longest wait between two looks for due runs when the
            backend cannot push them (default 0.5 s)
        - preload (List[str]): modules the zygote imports before forking
        - stop_runs_on_exit (bool): kill the running flow processes when the agent stops
            (default: leave them running, as LocalAgent does)
    """

    # Prefect's loop looks for due runs again 0.25 s after it found some, then backs off to
    # 10 s (see prefect_private.LocalAgentLoop). This agent is woken when it matters
    # (`AGENT_WAKE_EVENT`: a run became due, per the backend's queue feed or the poll of
    # `pickup.py`; a slot freed; a run due later is due now), so its own looks are only a
    # safety net: every 10 s.
    safety_poll = SAFETY_POLL

    def __init__(self, name: Optional[str] = None, labels: Optional[Iterable[str]] = None,
                 env_vars: Optional[dict] = None, import_paths: Optional[List[str]] = None,
                 show_flow_logs: bool = False, hostname_label: bool = True, limit: Optional[int] = None,
                 poll_interval: float = 0.5, preload: Iterable[str] = (), stop_runs_on_exit: bool = False,
                 max_polls: Optional[int] = None, no_cloud_logs: Optional[bool] = None,
                 max_blocked: Optional[int] = None) -> None:
        # Prefect annotates these without Optional although its own defaults are None
        super().__init__(name=name, labels=list(labels or []), env_vars=env_vars,  # type: ignore[arg-type]
                         import_paths=import_paths, show_flow_logs=show_flow_logs,  # type: ignore[arg-type]
                         hostname_label=hostname_label, max_polls=max_polls,  # type: ignore[arg-type]
                         no_cloud_logs=no_cloud_logs)  # type: ignore[arg-type]
        self.limit = limit or default_limit()
        self.max_blocked = max_blocked if max_blocked is not None else default_max_blocked(self.limit)
        self.rule = SlotRule(self.limit, self.max_blocked)
        self.poll_interval = poll_interval
        self.stop_runs_on_exit = stop_runs_on_exit
        self.heartbeat_period = STATE_CHECK_PERIOD  # type: ignore[assignment]  # the base class's public knob for `heartbeat()`
        self.runs = RunTable()
        self.backend = Backend(self.client, self.logger)
        self.zygote = ZygoteClient(list(preload), on_exit=self._on_process_exit, on_lost=self._on_lost,
                                   on_finished=self._on_finished)
        self.channel: Optional[SlotChannel] = None
        self.voucher = Voucher(self.backend, self.runs.runs, self.logger)
        self.pickup = DuePickup(Client(api_server=config.cloud.api), self._wake, self._announced_due,
                                poll_interval, self.logger)
        self._exits = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flow-process-exits")
        self._lost: set = set()
        self._stopping = threading.Event()
        self._zygote_wanted = threading.Event()  # the zygote died: start another
        self._last_zygote_try = 0.0
        self._last_sweep = 0.0
        self._parents: Dict[str, Tuple[Optional[str], str]] = {}  # due run -> (parent id, start time)
        self.subreaper = False
        # Whether due runs are left that a freed slot should start: the last look left some,
        # or the backend announced one while no slot was free (counted, see `looking_for_due_runs`).
        self._due_left = False
        self._announced = 0
        self._look_mark = 0
        self._zygote_env: Optional[Dict[str, str]] = None

    # Agent hooks ----------------------------------------------------------------------

    def on_startup(self) -> None:
        self.subreaper = become_subreaper()
        self.channel = SlotChannel(self._on_slot_message, self.logger).start()
        # The zygote lives in the environment every run gets but for the run's ids: a run
        # whose environment is just that (no run config `env` or `working_dir`) keeps the
        # configuration the zygote loaded, instead of loading Prefect's again.
        self.zygote.env = self._zygote_env = self._common_environment()
        self.zygote.start()
        self.logger.info("Warm zygote ready (pid %s); at most %d flow runs working at once, and up to %d "
                         "more waiting on other flow runs", self.zygote.pid, self.limit, self.max_blocked)
        self.voucher.start()
        self.pickup.start()

    def on_shutdown(self) -> None:
        self._stopping.set()
        self.pickup.stop()
        self.voucher.stop()
        if self.stop_runs_on_exit:
            for run in self.runs.runs():
                signal_group(run.pid, signal.SIGKILL)
        self.zygote.stop()
        if self.channel is not None:
            self.channel.close()
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
        env = self._environment(flow_run, run_config)
        pid = self._spawn(env, working_dir, flow={"name": flow_run.flow.name, "storage": flow_run.flow.storage},
                          inherit_config=without_run_ids(env) == self._zygote_env)
        # The stock loop set the run Submitted with the version it read, if it was Scheduled:
        # that deployment is this agent's (C2/C3 fence on it).
        submitted = StateSchema().load(flow_run.serialized_state).is_scheduled()
        run = RunningRun(flow_run.id, pid, time.monotonic(), deploy_version=flow_run.version if submitted else None)
        early_exit = self.runs.add(run)
        if early_exit is not None:
            self._exits.submit(self._after_exit, run, *early_exit)
        self.logger.debug("Flow run %s runs in forked process %d", flow_run.id, pid)
        return f"PID: {pid}"

    def _environment(self, flow_run: GraphQLResult, run_config: LocalRun) -> Dict[str, str]:
        """A flow process's environment: LocalAgent's, with the warm agent's additions."""
        explicit = {**(self.env_vars or {}), **(run_config.env or {})}
        return flow_run_environment(self.populate_env_vars(flow_run, run_config=run_config), explicit,
                                    self.channel.environment if self.channel is not None else {})

    def _common_environment(self) -> Dict[str, str]:
        """What every run's environment holds but its ids (a run with the default run config)."""
        placeholder = GraphQLResult({"id": "", "flow": {"id": ""}})
        return without_run_ids(self._environment(placeholder, LocalRun()))

    def _spawn(self, env: Dict[str, str], working_dir: Optional[str], **order: Any) -> int:
        try:
            return self.zygote.spawn(env, working_dir, self.show_flow_logs, **order)
        except ZygoteError as exc:  # it died meanwhile: once more, with a new one
            self.logger.warning("The zygote failed (%s); starting another", exc)
            return self.zygote.spawn(env, working_dir, self.show_flow_logs, **order)

    def heartbeat(self) -> None:
        """Every second: stop the process groups of runs cancelled on the backend, watch the
        processes whose zygote died, replace a dead zygote, reap adopted orphans."""
        super().heartbeat()
        self._check_lost()
        self._replace_zygote()
        self._sweep_zombies()
        runs = [r for r in self.runs.runs() if not r.finished]
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

    # Slots ----------------------------------------------------------------------------

    def may_start(self) -> bool:
        """Whether a due run may start now (see `admission.py`)."""
        return self._free_slots() > 0

    def _free_slots(self) -> int:
        runs = self.runs.runs()
        mine = {r.flow_run_id for r in runs}
        starting = len(self.submitting_flow_runs.copy() - mine)
        return self.rule.free(runs, starting)

    def _announced_due(self) -> None:
        if self.may_start():
            self._wake()
        else:
            self._announced += 1
            self._due_left = True

    def _slot_freed(self) -> None:
        """A slot is free: look for due runs now if some are known to wait (others are
        announced by the backend's queue feed, or found by the next poll)."""
        if self._due_left:
            self._wake()

    def looking_for_due_runs(self) -> None:
        # the mark tells announcements made before the look (which it sees) from those made
        # during it (which it may not)
        self._look_mark = self._announced

    def runs_to_deploy(self, flow_run_ids: List[str],
                       read: Callable[[Iterable[str]], List[GraphQLResult]]) -> List[GraphQLResult]:
        # the runs the loop deploys (and marks Submitted): the limit applies here; runs left
        # out stay Scheduled for other agents
        runs = self.runs.runs()
        busy = {r.flow_run_id for r in runs} | self.submitting_flow_runs.copy()
        free = self._free_slots()
        candidates = [i for i in flow_run_ids if i not in busy]
        self._due_left = len(candidates) > max(free, 0) or self._announced != self._look_mark
        if free <= 0 or not candidates:
            return []
        if len(candidates) > free:  # a choice to make: depth first (see admission.py)
            mine = [r.flow_run_id for r in runs]
            self._learn_parents(candidates + mine)
            candidates = depth_first(candidates, self._parents, runs)[:free]
        # The stock loop also takes runs due in the next 10 s and sleeps until then in a
        # deploy thread, which would hold a slot meanwhile: only runs due now are taken (the
        # backend's queue feed, or the next poll, announces the others when they are due).
        now = pendulum.now("UTC")
        due: List[GraphQLResult] = []
        later: List[GraphQLResult] = []
        for flow_run in read(candidates):
            (due if _start_time(flow_run) <= now.add(microseconds=50_000) else later).append(flow_run)
        if later:
            self.pickup.wake_in(min((_start_time(r) - now).total_seconds() for r in later))
        if len(due) < free and len(due) + len(later) < len(candidates):
            # some were taken by other agents meanwhile: others may be left, look again soon
            self.pickup.wake_in(RELOOK_DELAY)
        return due[:free]

    def _learn_parents(self, flow_run_ids: List[str]) -> None:
        """Learn the parent of each run not known yet, in one request."""
        unknown = [i for i in flow_run_ids if i not in self._parents]
        if unknown:
            self._parents.update(self.backend.parents(unknown))
        if len(self._parents) > 4 * len(flow_run_ids) + 1000:  # forget runs no longer due nor running
            keep = set(flow_run_ids)
            self._parents = {k: v for k, v in self._parents.items() if k in keep}

    def _on_slot_message(self, sender: int, flow_run_id: Optional[str], blocked: bool) -> None:
        run = self._run_of_process(sender)
        if run is None:
            self.logger.debug("Slot message from pid %d, which runs none of this agent's runs", sender)
            return
        if flow_run_id is not None and flow_run_id != run.flow_run_id:
            self.logger.debug("Slot message from pid %d names run %s, but it runs %s", sender, flow_run_id,
                              run.flow_run_id)
            return
        if not self.runs.set_blocked(run.pid, blocked):
            return
        counted, waiting = self.rule.counts(self.runs.runs())
        self.logger.debug("Flow run %s %s (%d counted against the limit, %d waiting)", run.flow_run_id,
                          "waits on other flow runs" if blocked else "works again", counted, waiting)
        if blocked:
            self._slot_freed()  # a working slot is free

    def _run_of_process(self, pid: int) -> Optional[RunningRun]:
        run = self.runs.get(pid)
        if run is not None:
            return run
        try:
            session = os.getsid(pid)  # a flow process leads its own session; its children share it
        except OSError:
            return None
        return self.runs.get(session)

    def _wake(self) -> None:
        AGENT_WAKE_EVENT.set()

    # Flow process exits ---------------------------------------------------------------

    def _on_finished(self, pid: int) -> None:
        if self.runs.mark_finished(pid):
            self._slot_freed()  # the process only flushes its logs and exits

    def _on_process_exit(self, pid: int, status: int, clean: bool, unfinished: bool) -> None:
        run = self.runs.finished(pid, status, clean, unfinished)
        if run is not None:
            self._exits.submit(self._after_exit, run, status, clean, unfinished)

    def _on_lost(self, pids: List[int]) -> None:
        if self._stopping.is_set():
            return
        self.logger.warning("The zygote exited; %d flow process(es) are watched by pid from now on; "
                            "starting another zygote", len(pids))
        self._lost.update(pids)
        self._zygote_wanted.set()
        threading.Thread(target=self._replace_zygote, name="zygote-restart", daemon=True).start()

    def _replace_zygote(self) -> None:
        if not self._zygote_wanted.is_set() or self._stopping.is_set():
            return
        now = time.monotonic()
        if now - self._last_zygote_try < ZYGOTE_RETRY_PERIOD and self._last_zygote_try:
            return
        self._last_zygote_try = now
        try:
            self.zygote.start()
        except ZygoteError as exc:
            self.logger.error("Could not start a new zygote (%s); trying again in %g s", exc, ZYGOTE_RETRY_PERIOD)
            return
        self._zygote_wanted.clear()
        self._last_zygote_try = 0.0
        self.logger.info("New warm zygote ready (pid %s)", self.zygote.pid)
        self._wake()

    def _report_returned_unfinished(self, run: RunningRun) -> None:
        """Its flow runner returned with the run still Running. On purpose while a task run
        waits for its time (Paused, a retry later): the backend sees that and leaves the run
        alone. Otherwise a task run's state could not be set (Prefect's runner then leaves
        the task `ClientFailed` and the run Running, "terminal tasks are incomplete"), and no
        process would run the rest before the heartbeat timeout: the backend recovers it now."""
        report = self.backend.report_dead(run.flow_run_id, RETURNED_UNFINISHED_REASON, run.deploy_version)
        if report.recovered:
            self.logger.warning("Flow run %s was left Running by its flow runner with no task run waiting for its "
                                "time; reported to the backend, which recovered it", run.flow_run_id)
        elif report.supported:
            self.logger.info("Flow run %s was left Running by its flow runner; the backend left it so: %s",
                             run.flow_run_id, report.error)

    def _check_lost(self) -> None:
        for pid in list(self._lost):
            try:
                status = wait_nohang(pid)  # adopted by this agent, its subreaper
                if status is None:
                    continue
                code: Optional[int] = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # adopted by init instead: only its disappearance shows
                if exists(pid):
                    continue
                code = None
            self._lost.discard(pid)
            run = self.runs.finished(pid, -1 if code is None else code, code == 0)
            if run is not None:
                self._after_exit(run, code, code == 0)

    def _sweep_zombies(self) -> None:
        now = time.monotonic()
        if not self.subreaper or now - self._last_sweep < ZOMBIE_SWEEP_PERIOD:
            return
        self._last_sweep = now
        reap_zombies(os.getpid(), exclude={*self._lost, *self.zygote.pids()})

    def _after_exit(self, run: RunningRun, status: Optional[int], clean: bool, unfinished: bool = False) -> None:
        """A flow process ended: finish its cancellation, or report it if it died mid-run or
        its flow runner returned with the run still Running."""
        if not run.finished:
            self._slot_freed()
        try:
            if run.cancel_started is not None:
                signal_group(run.pid, signal.SIGKILL)  # anything its flow started
                if self.backend.finish_cancellation(run.flow_run_id, "Cancelled: the agent stopped its flow process."):
                    self.logger.info("Flow run %s set Cancelled (its process group was stopped)", run.flow_run_id)
                return
            if clean:
                if unfinished:
                    self._report_returned_unfinished(run)
                return  # finished
            signal_group(run.pid, signal.SIGKILL)
            reason = describe_exit(run.pid, status)
            state = self.backend.state(run.flow_run_id)
            if state in ALIVE_STATES:
                self.logger.warning("Flow run %s is %s but %s", run.flow_run_id, state, reason)
                report = self.backend.report_dead(run.flow_run_id, reason, run.deploy_version)
                if report.recovered:
                    self.logger.info("Reported flow run %s to the backend for recovery", run.flow_run_id)
                elif report.supported:
                    self.logger.info("The backend did not recover flow run %s: %s", run.flow_run_id, report.error)
            elif state == "Cancelling":
                self.backend.finish_cancellation(run.flow_run_id, f"Cancelled: {reason}.")
        except Exception:
            self.logger.exception("Could not handle the exit of flow run %s", run.flow_run_id)
