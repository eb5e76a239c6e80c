"""Restart finished-unsuccessful runs in place, and tell whether a task runs again.

A restart works as Prefect's UI restarts a flow run, with the standard API only, so it
works against any Prefect 1 backend: the run's unsuccessful task runs (Failed, TimedOut,
TriggerFailed, Cancelled, and Running ones left by a dead process) go back to Pending,
successful ones keep their states and results (unless a rerun task needs a value that was
never persisted: see `tasks_flowrun.rerun_plan`), and the run is Scheduled to start now. The
run keeps its id, so whoever holds the id (a parent's `wait_for_flow_run`, a user) follows
the rerun, and a key never has more than one run.
"""
import threading
from typing import Any, Dict, List, Mapping, Optional

import pendulum
import prefect
from prefect.engine import state as states

from ..rerun_plan import task_runs_to_rerun
from . import queries

# Task run states a restart puts back to Pending (subclasses included: TimedOut,
# TriggerFailed, ValidationFailed, Cancelling).
_RERUN_TASK_STATES = (states.Failed, states.Cancelled, states.Running)
# Flow run states a restart applies to.
_RESTARTABLE = (states.Failed, states.Cancelled)


def _state_class(name: Optional[str]) -> Optional[type]:
    cls = getattr(states, str(name), None)
    return cls if isinstance(cls, type) and issubclass(cls, states.State) else None


def _must_rerun(task_run: Mapping[str, Any]) -> bool:
    cls = _state_class(task_run.get("state"))
    return cls is not None and issubclass(cls, _RERUN_TASK_STATES)


def _unfinished(task_run: Mapping[str, Any]) -> bool:
    """A task run that has not run yet (Pending...): it runs on the restart as well."""
    cls = _state_class(task_run.get("state"))
    return cls is not None and not issubclass(cls, states.Finished)


def needs_restart(state_name: Optional[str]) -> bool:
    """
    Whether a flow run in this state ended without success and can be restarted (Failed,
    TimedOut, TriggerFailed, Cancelled...).

    Args:
        - state_name (str): the name of the run's state, e.g. `"Failed"`

    Returns:
        - bool: `True` for finished, unsuccessful states
    """
    cls = _state_class(state_name)
    return cls is not None and issubclass(cls, _RESTARTABLE)


def restart_flow_run(client: "prefect.Client", flow_run_id: str, reason: str) -> bool:
    """
    Restart a finished, unsuccessful flow run in place (see the module docstring).

    Args:
        - client (prefect.Client): the client
        - flow_run_id (str): the run to restart
        - reason (str): why, recorded in the new states' messages

    Returns:
        - bool: `True` if the run was restarted, `False` if it was not (or no longer) in
            a restartable state (then it is left as it is)
    """
    rows = (client.graphql(queries.RUN_FOR_RESTART, variables={"id": flow_run_id}).get("data") or {}).get("flow_run")
    if not rows or not needs_restart(rows[0].get("state")):
        return False
    run = rows[0]
    edges = [(e["upstream_task_id"], e["downstream_task_id"]) for e in (run.get("flow") or {}).get("edges") or []]
    rerun = task_runs_to_rerun(run.get("task_runs") or [], edges, _must_rerun, runs_anyway=_unfinished)
    pending = states.Pending(reason).serialize()
    task_states: List[Dict[str, Any]] = [{"task_run_id": task_run_id, "state": pending} for task_run_id in sorted(rerun)]
    if task_states:
        client.graphql(queries.SET_TASK_RUN_STATES, variables={"input": {"states": task_states}})
    scheduled = states.Scheduled(reason, start_time=pendulum.now("UTC")).serialize()
    flow_state = {"flow_run_id": flow_run_id, "version": run.get("version"), "state": scheduled}
    client.graphql(queries.SET_FLOW_RUN_STATES, variables={"input": {"states": [flow_state]}})
    return True


# Markers the embedded backend writes into a state's `context` (Prefect's State.context):
# on the Scheduled state that puts a run whose process died back in the queue, and on the
# Cancelling / Cancelled state of a child cancelled because its parent was.
RECOVERED = "tasks_flowrun_recovered"
CANCELLED_WITH_PARENT = "cancelled_with_parent"

FIRST_RUN = "first run"
RETRY = "retry"  # the task runs again in the same parent run (task_run_count > 1)
RESTARTED = "restarted"  # the parent run was put back in the queue by someone (a user, the UI)
PARENT_RECOVERED = "recovered"  # ... by the backend, after the parent's process died
HISTORY_LIMIT = 20  # the parent's newest states read to tell how it came to run again


def _context(serialized: Any) -> Mapping[str, Any]:
    context = (serialized or {}).get("context") if isinstance(serialized, Mapping) else None
    return context if isinstance(context, Mapping) else {}


def cancelled_with_parent(history: List[Mapping[str, Any]]) -> bool:
    """
    Whether a Cancelled run was cancelled by its parent's cascade (and not by a user): one
    of its newest Cancelling / Cancelled states carries the backend's `cancelled_with_parent`
    marker.

    Args:
        - history (List[dict]): the run's states (`timestamp`, `serialized_state`), any order

    Returns:
        - bool: `True` if the cancellation came from the parent
    """
    ordered = sorted(history, key=lambda entry: str(entry.get("timestamp")), reverse=True)
    for entry in ordered:
        serialized = entry.get("serialized_state") or {}
        cls = _state_class(serialized.get("type"))
        if cls is None or not issubclass(cls, (states.Cancelled, states.Cancelling)):
            return False  # past the last cancellation
        if _context(serialized).get(CANCELLED_WITH_PARENT):
            return True
    return False


def restart_reason(row: Mapping[str, Any]) -> Optional[str]:
    """
    Why a rerunning parent restarts this child, or `None` to leave it as it is: it ended
    Failed (TimedOut, TriggerFailed... included), or Cancelled by its parent's cascade. A
    child a user cancelled is left Cancelled (`user_cancelled` says so).

    Args:
        - row (dict): the child's row, with `serialized_state` and `states` (history)

    Returns:
        - str: e.g. "had ended TimedOut", or `None`
    """
    name = (row.get("serialized_state") or {}).get("type")
    cls = _state_class(name)
    if cls is None:
        return None
    if issubclass(cls, states.Failed):
        return f"had ended {name}"
    if issubclass(cls, states.Cancelled) and cancelled_with_parent(row.get("states") or []):
        return "had been cancelled with its parent"
    return None


def user_cancelled(row: Mapping[str, Any]) -> bool:
    """Whether the child is Cancelled, and not by its parent's cascade (a user did it)."""
    cls = _state_class((row.get("serialized_state") or {}).get("type"))
    return cls is not None and issubclass(cls, states.Cancelled) and not cancelled_with_parent(row.get("states") or [])


class RerunDetector:
    """
    Whether the current task run may meet children made by an earlier run of itself, and
    how it came to run again: a task retry (`task_run_count > 1`), a parent flow run put
    back in the queue by someone (restarted), or by the backend after its process died
    (recovered: its requeueing Scheduled state carries the `tasks_flowrun_recovered`
    marker). The parent's newest states are read once per parent flow run and process (one
    request), so a fan-out pays it once; a first run costs nothing more.
    """

    def __init__(self) -> None:
        self._known: Dict[str, str] = {}
        self._lock = threading.Lock()

    def kind(self, client: "prefect.Client", ctx: Optional[Any] = None) -> str:
        """
        Args:
            - client (prefect.Client): the client
            - ctx (Mapping, optional): the Prefect context; defaults to `prefect.context`

        Returns:
            - str: `FIRST_RUN`, `RETRY`, `RESTARTED` or `PARENT_RECOVERED`
        """
        ctx = prefect.context if ctx is None else ctx
        retry = (ctx.get("task_run_count") or 1) > 1
        flow_run_id = ctx.get("flow_run_id")
        if not flow_run_id or not ctx.get("running_with_backend"):
            return RETRY if retry else FIRST_RUN
        with self._lock:  # one request per parent run, also with many threads mapping
            if flow_run_id not in self._known:
                if len(self._known) > 10_000:
                    self._known.clear()
                self._known[flow_run_id] = self._how_it_runs(client, flow_run_id)
            parent = self._known[flow_run_id]
        # A recovered parent restarts no child, whatever the attempt (the recovery itself may
        # have put the task back as Retrying): nothing a user decided is undone.
        if parent == PARENT_RECOVERED:
            return parent
        return RETRY if retry else parent

    def is_rerun(self, client: "prefect.Client", ctx: Optional[Any] = None) -> bool:
        """Whether the task runs again (any kind but `FIRST_RUN`)."""
        return self.kind(client, ctx) != FIRST_RUN

    @staticmethod
    def _how_it_runs(client: "prefect.Client", flow_run_id: str) -> str:
        result = client.graphql(queries.PARENT_STATES, variables={"id": flow_run_id, "limit": HISTORY_LIMIT})
        rows = (result.get("data") or {}).get("flow_run_state") or []
        running = [i for i, row in enumerate(rows) if row.get("state") == "Running"]
        if len(running) < 2:
            return FIRST_RUN
        # between the current Running state and the one before: what put the run back in the queue
        for row in rows[running[0] + 1:running[1]]:
            serialized = row.get("serialized_state") or {}
            cls = _state_class(serialized.get("type"))
            if cls is not None and issubclass(cls, (states.Scheduled, states.Queued)):
                return PARENT_RECOVERED if _context(serialized).get(RECOVERED) else RESTARTED
        return RESTARTED


RERUNS = RerunDetector()
