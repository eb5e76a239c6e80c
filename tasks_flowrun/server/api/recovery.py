"""Runs whose process died: detect them, re-run their unfinished work, give up after a budget.

A flow run in Submitted, Running or Cancelling is *dead* when

- its last sign of life (heartbeat, state change, or a poll of its own run by its flow
  process) is older than the timeout (Submitted runs: the submitted timeout, 10 minutes by
  default, as an agent may need long to start a process), or
- its flow process once polled its own state in this state and then stopped polling for
  longer than the timeout (see `liveness.py`): an orphaned `prefect heartbeat` process
  keeps heartbeating for a dead flow process, its polls stop with it.

Silence counts only from the end of the backend's last gap in availability at the earliest
(`heard_since`, see `availability.py`): a run is never judged dead for silence the backend
caused itself (it was down, suspended, cut off from its database...).

What happens to a dead run, like Prefect Server's ZombieKiller and Lazarus together:

- Cancelling: it becomes Cancelled (the process that was stopping it is gone).
- A run with a task run waiting for its time (Paused, Retrying, Scheduled, Resume) is left
  alone: it has no process on purpose while it waits.
- Otherwise its Running task runs are handed back: Retrying (counting one of the task's
  retries) when the task has retries left, else Pending; and the run is Scheduled again,
  due now, its state's context marked `tasks_flowrun_recovered: true`, so an agent deploys
  it and the rerun executes exactly the unfinished work. Every unfinished task run's
  version changes: the process judged dead cannot start a task afterwards (locking.py).
  Successful task runs keep their states and results, except upstream ones whose value
  the rerun needs and that was never persisted (see `tasks_flowrun.rerun_plan`).
- After `max_resurrections` reschedules (or when the flow group disables Lazarus), its
  Running task runs and the run itself become Failed, with a message that says why.

Flow groups with heartbeats disabled (`heartbeat_enabled: false`) are never judged.

Every path that declares a run dead is fenced: the sweep re-reads the run under its row
lock and recovers it only if it is as judged; an agent's report (`recover_run`) names the
deployment it saw die, and a run deployed again since is left alone.
"""
import datetime as dt
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from prefect.engine.state import Cancelled, Failed, Pending, Retrying, Scheduled
from sqlalchemy.engine import Connection

from ...rerun_plan import task_runs_to_rerun
from ..storage.rows import fetch_row, fetch_rows
from ..storage.runs import active_runs, latest_submitted_versions, retry_count
from ..timestamps import clock, to_datetime
from .liveness import RunnerPolls
from .locking import bump_task_runs
from .logs import write_run_logs
from .records import update
from .states import is_finished, record_state, set_flow_run_state

WATCHED_STATES = ("Submitted", "Running", "Cancelling")
WAITING_TASK_STATES = ("Paused", "Retrying", "Scheduled", "Resume")
LOGGER_NAME = "tasks_flowrun.recovery"
RUN_COLUMNS = ("id", "name", "tenant_id", "flow_id", "flow_group_id", "state", "state_timestamp", "heartbeat",
               "times_resurrected")  # what a run is judged and recovered by
RECOVERED = "tasks_flowrun_recovered"  # in the context of the Scheduled state of a rescheduled run


@dataclass(frozen=True)
class RecoveryPolicy:
    """
    How dead runs are judged and recovered.

    Args:
        - heartbeat_timeout (timedelta): silence after which a run's process is dead
        - max_resurrections (int): reschedules of one run before it is marked Failed
        - submitted_timeout (timedelta): silence after which a Submitted run's agent is
            taken to have failed to start its process
    """

    heartbeat_timeout: dt.timedelta = dt.timedelta(seconds=120)
    max_resurrections: int = 3
    submitted_timeout: dt.timedelta = dt.timedelta(seconds=600)

    def timeout_for(self, state: str) -> dt.timedelta:
        return self.submitted_timeout if state == "Submitted" else self.heartbeat_timeout


def _seconds(delta: dt.timedelta) -> int:
    return int(delta.total_seconds())


def death_reason(run: Dict[str, Any], now: dt.datetime, policy: RecoveryPolicy,
                 polls: Optional[RunnerPolls] = None, heard_since: Optional[dt.datetime] = None) -> Optional[str]:
    """Why `run` (a row of `active_runs`) is dead, or None while it looks alive.

    `heard_since` is when the backend's last gap in availability ended: silence before it
    does not count."""
    limit = policy.timeout_for(run["state"])
    entered = to_datetime(run["state_timestamp"])
    polled = polls.last(run["id"]) if polls is not None and run["state"] != "Submitted" else None
    if polled is not None and run["state"] == "Running" and entered is not None and polled < entered:
        polled = None  # a poll from before this state (an earlier deployment) proves nothing now
    signs = [t for t in (to_datetime(run["heartbeat"]), entered, polled) if t is not None]
    if not signs:
        return None
    last_sign = max(signs)
    if _silence(now, last_sign, heard_since) > limit:
        return (f"no heartbeat nor other sign of life for {_seconds(now - last_sign)} s"
                f"{_heard(last_sign, heard_since)} (timeout {_seconds(limit)} s)")
    if polled is None:
        return None  # its flow process has not polled in this state: heartbeats alone decide
    if _silence(now, polled, heard_since) > limit:
        return (f"its flow process stopped polling its state {_seconds(now - polled)} s ago"
                f"{_heard(polled, heard_since)} (timeout {_seconds(limit)} s); heartbeats still arriving come "
                "from an orphaned heartbeat process")
    return None


def _silence(now: dt.datetime, last: dt.datetime, heard_since: Optional[dt.datetime]) -> dt.timedelta:
    """How long a run has been silent while the backend could hear it."""
    return now - (max(last, heard_since) if heard_since is not None else last)


def _heard(last: dt.datetime, heard_since: Optional[dt.datetime]) -> str:
    if heard_since is None or heard_since <= last:
        return ""
    return f", {_seconds(heard_since - last)} s of it while the backend could not hear it or its clients were retrying"


def recover_dead_runs(conn: Connection, now: dt.datetime, policy: RecoveryPolicy,
                      polls: Optional[RunnerPolls] = None, heard_since: Optional[dt.datetime] = None
                      ) -> Dict[str, List[str]]:
    """Recover every dead run (see the module docstring); returns the ids by outcome.
    (Forget the recovered runs' polls once this transaction has committed.)"""
    outcome: Dict[str, List[str]] = {"rescheduled": [], "failed": [], "cancelled": []}
    for run in active_runs(conn, WATCHED_STATES):
        reason = death_reason(run, now, policy, polls, heard_since)
        if reason is None:
            continue
        settings = _settings(conn, run)
        if not settings.get("heartbeat_enabled", True):
            continue  # without heartbeats, silence says nothing about the run
        result = _recover(conn, run, settings, reason, now, policy)
        if result is not None:
            outcome[result].append(run["id"])
    return outcome


class DeployedAgain(Exception):
    """A dead report about a deployment that is no longer the run's current one."""


def recover_run(conn: Connection, flow_run_id: str, reason: str, policy: RecoveryPolicy,
                now: Optional[dt.datetime] = None, flow_run_version: Optional[int] = None) -> Optional[str]:
    """Recover one run whose process is known to be dead (its agent saw the process exit),
    at once, as the sweep would after the heartbeat timeout. Heartbeat settings do not matter
    here (a process seen dead is no guess from silence); `lazarus_enabled: false` still fails
    the run instead of rescheduling it.

    With `flow_run_version` (the run's version the agent read and sent with its Submitted
    state when it deployed the process that died), the run is recovered only if that
    deployment is still the current one: its latest Submitted state has version
    `flow_run_version + 1`; else DeployedAgain (nothing changes).

    Returns "rescheduled", "failed" or "cancelled"; None when the run is not Submitted, Running
    or Cancelling, or a task run waits on purpose (Paused, Retrying...).
    """
    run = fetch_row(conn, "flow_run", RUN_COLUMNS, lock=True, id=str(flow_run_id))  # before the decision
    if run is None or run["state"] not in WATCHED_STATES:
        return None
    if flow_run_version is not None:
        current = latest_submitted_versions(conn, [run["id"]]).get(run["id"])
        if current != flow_run_version + 1:
            raise DeployedAgain(
                f"the run was deployed again (or moved on) since the deployment this report is about: its latest "
                f"Submitted state has version {current}, not {flow_run_version + 1}; nothing changed")
    now = now or clock.now()
    return _recover(conn, run, _settings(conn, run), f"reported dead: {reason}", now, policy)


def _settings(conn: Connection, run: Dict[str, Any]) -> Dict[str, Any]:
    return (fetch_row(conn, "flow_group", id=run["flow_group_id"]) or {}).get("settings") or {}


def _recover(conn: Connection, run: Dict[str, Any], settings: Dict[str, Any], reason: str, now: dt.datetime,
             policy: RecoveryPolicy) -> Optional[str]:
    """Cancel, fail or reschedule a dead run; returns which (None: a task waits on purpose,
    or the run moved on since it was judged, e.g. through another server process)."""
    fresh = fetch_row(conn, "flow_run", ("state", "state_timestamp", "heartbeat", "times_resurrected"),
                      lock=True, id=run["id"])
    if fresh is None or any(fresh[k] != run[k] for k in fresh):
        return None
    task_runs = fetch_rows(conn, "task_run", ("id", "task_id", "state", "version", "tenant_id",
                                              "serialized_state"), flow_run_id=run["id"])
    if run["state"] == "Cancelling":
        _cancel(conn, run, reason)
        return "cancelled"
    if any(t["state"] in WAITING_TASK_STATES for t in task_runs):
        return None  # a task waits for its time: no process on purpose
    if run["times_resurrected"] >= policy.max_resurrections or not settings.get("lazarus_enabled", True):
        _fail(conn, run, task_runs, reason, policy)
        return "failed"
    _reschedule(conn, run, task_runs, reason, now, policy)
    return "rescheduled"


def _log(conn: Connection, run: Dict[str, Any], level: str, message: str, task_run_id: Optional[str] = None) -> None:
    write_run_logs(conn, [{"flow_run_id": run["id"], "task_run_id": task_run_id, "name": LOGGER_NAME,
                           "level": level, "message": message}])


def _cancel(conn: Connection, run: Dict[str, Any], reason: str) -> None:
    message = f"The run was cancelling when its process died ({reason}): marking it Cancelled."
    set_flow_run_state(conn, run["id"], Cancelled(message).serialize())  # its task runs too
    _log(conn, run, "WARNING", message)


def _reschedule(conn: Connection, run: Dict[str, Any], task_runs: List[Dict[str, Any]], reason: str,
                now: dt.datetime, policy: RecoveryPolicy) -> None:
    attempt = run["times_resurrected"] + 1
    edges = [(e["upstream_task_id"], e["downstream_task_id"])
             for e in fetch_rows(conn, "edge", ("upstream_task_id", "downstream_task_id"), flow_id=run["flow_id"])]
    # Running task runs go back; the ones that never started (Pending...) run on the rerun
    # too: the upstream values of both are read back, or recomputed when never persisted
    rerun = task_runs_to_rerun(task_runs, edges, lambda t: t["state"] == "Running",
                               runs_anyway=lambda t: not is_finished(t["state"]))
    for task_run in task_runs:
        if task_run["id"] not in rerun:
            continue
        if task_run["state"] != "Running":  # succeeded, but its value was never persisted
            message = "A task that needs this value runs again, and it was not persisted: rerunning."
            record_state(conn, "task_run", task_run, Pending(message).serialize())
            continue
        task = fetch_row(conn, "task", id=task_run["task_id"]) or {}
        retries = retry_count(conn, task_run["id"])
        if retries < (task.get("max_retries") or 0):
            message = (f"Its process died ({reason}): retrying the task run "
                       f"(retry {retries + 1} of {task['max_retries']}).")
            state = Retrying(message, run_count=retries + 1, start_time=now).serialize()
        else:
            message = f"Its process died ({reason}): the rescheduled flow run runs it again."
            state = Pending(message).serialize()
        record_state(conn, "task_run", task_run, state)
    message = (f"The run's process died ({reason}). Rescheduled to run its unfinished tasks again "
               f"(attempt {attempt} of {policy.max_resurrections}).")
    scheduled = Scheduled(message, start_time=now, context={RECOVERED: True})
    set_flow_run_state(conn, run["id"], scheduled.serialize())  # unfinished task runs' versions change
    update(conn, "flow_run", run["id"], times_resurrected=attempt)
    _log(conn, run, "WARNING", message)


def _fail(conn: Connection, run: Dict[str, Any], task_runs: List[Dict[str, Any]], reason: str,
          policy: RecoveryPolicy) -> None:
    if run["times_resurrected"] >= policy.max_resurrections:
        why = f"after {run['times_resurrected']} reschedules (the limit)"
    else:
        why = "and its flow group disables rescheduling (lazarus_enabled: false)"
    message = f"The run's process died ({reason}) {why}: marking the run Failed."
    failed = []
    for task_run in task_runs:
        if task_run["state"] == "Running":
            record_state(conn, "task_run", task_run, Failed(f"Its process died ({reason}).").serialize())
            failed.append(task_run["id"])
    set_flow_run_state(conn, run["id"], Failed(message).serialize())
    bump_task_runs(conn, run["id"], exclude=failed)  # the process judged dead starts nothing more
    _log(conn, run, "ERROR", message)
