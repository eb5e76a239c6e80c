"""Run states: the state setters, the Submitted lock, version locking (locking.py), the
rules after a finished state (transitions.py), restarts, cancellation cascades, derived
columns.

A run row mirrors its latest state (version, state, timestamps...) as Prefect Server's
triggers do; every state is also kept in the run's history table.
"""
from typing import Any, Dict, List, Optional, Tuple

from prefect.engine import state as prefect_states
from sqlalchemy.engine import Connection

from ..change_feed import QUEUE
from ..storage.rows import fetch_row, fetch_rows
from ..storage.database import note_change
from ..storage.runs import child_runs
from ..timestamps import TimestampError, clock, to_utc_text
from .cloud_hooks import queue_hooks_after_commit
from .errors import ApiError
from .locking import bump_task_runs, check_not_running, check_running, check_submitted, locking_enabled, own_retry
from .records import insert, update
from .transitions import check_transition

MAX_STATE_BYTES = 1_000_000
END_STATES = {"Success", "Failed", "Cached", "TimedOut", "Looped", "Cancelled"}
QUEUE_STATES = ("Scheduled", "Paused", "Queued", "Resume", "Retrying")
# A child created with `context[CANCEL_WITH_PARENT] = False` is detached: cancelling its
# parent leaves it running. Any other child is cancelled with its parent (recursively).
PARENT_FLOW_RUN_ID = "parent_flow_run_id"
CANCEL_WITH_PARENT = "cancel_with_parent"
# In the context of the Cancelling/Cancelled state a parent's cancellation gives a child:
# the parent's id (a restarted parent restarts the children cancelled with it).
CANCELLED_WITH_PARENT = "cancelled_with_parent"


def state_class(type_name: Any) -> type:
    """The Prefect state class named `type_name`, or a clear error."""
    cls = getattr(prefect_states, str(type_name), None)
    if not (isinstance(cls, type) and issubclass(cls, prefect_states.State)):
        raise ApiError(f"Unknown state type {type_name!r}: expected a Prefect 1 state such as 'Running'.")
    return cls


def is_finished(type_name: Optional[str]) -> bool:
    return bool(type_name) and issubclass(state_class(type_name), prefect_states.Finished)


def _check_payload(serialized: Any) -> type:
    if not isinstance(serialized, dict) or "type" not in serialized:
        raise ApiError("Invalid state: expected a serialized Prefect state object with a 'type'.")
    if len(str(serialized)) > MAX_STATE_BYTES:
        raise ApiError("State payload is too large.")
    return state_class(serialized["type"])


def _start_time(cls: type, serialized: Dict[str, Any], now: str) -> Optional[str]:
    """When a waiting state is due. A Scheduled (Retrying, Resume, Queued) state sent without
    a start time, as a UI-style restart sends it, is due at once; only a Paused state
    without one waits (for a manual resume)."""
    if not issubclass(cls, (prefect_states.Scheduled, prefect_states.Queued)):
        return None
    value = serialized.get("start_time")
    if value is None:
        return None if issubclass(cls, prefect_states.Paused) else now
    try:
        return to_utc_text(value)
    except TimestampError as exc:
        raise ApiError(f"Invalid state start_time: {exc}") from None


def state_columns(kind: str, run: Dict[str, Any], serialized: Dict[str, Any], writer: Optional[str] = None
                  ) -> Tuple[Dict, Dict]:
    """The history row for a new state of a flow or task run (`kind`) and the run's derived
    columns after it (version, state, timestamps...), as Prefect Server's triggers derive them;
    a Running state keeps the sender's `writer` token (see locking.py)."""
    cls = _check_payload(serialized)
    now = clock.now_text()
    version = (run.get("version") or 0) + 1
    start_time = _start_time(cls, serialized, now)
    message = serialized.get("message")
    history = {f"{kind}_id": run["id"], "tenant_id": run["tenant_id"], "version": version, "state": cls.__name__,
               "timestamp": now, "message": message, "start_time": start_time, "serialized_state": serialized}
    derived: Dict[str, Any] = dict(version=version, state=cls.__name__, serialized_state=serialized,
                                   state_start_time=start_time, state_timestamp=now, state_message=message,
                                   updated=now, state_writer=writer if cls is prefect_states.Running else None)
    if cls is prefect_states.Running and not run.get("start_time"):
        derived["start_time"] = now
    if cls.__name__ in END_STATES:
        derived["end_time"] = now
    if issubclass(cls, (prefect_states.Running, prefect_states.Submitted)):
        derived["heartbeat"] = now
    return history, derived


def record_state(conn: Connection, kind: str, run: Dict[str, Any], serialized: Dict[str, Any],
                 writer: Optional[str] = None) -> Dict[str, Any]:
    """Append `serialized` to the history of an existing flow or task run and update the run
    (`writer`: the sender's writer token, kept with a Running state)."""
    history, derived = state_columns(kind, run, serialized, writer)
    insert(conn, f"{kind}_state", **history)
    update(conn, kind, run["id"], **derived)
    run.update(derived)
    if kind == "flow_run":
        note_change(conn, run["id"])
        if derived["state"] in QUEUE_STATES and derived["state_start_time"]:  # due now or then: wake agents
            note_change(conn, run["id"], QUEUE, due=derived["state_start_time"])
    return run


def set_flow_run_state(conn: Connection, flow_run_id: str, serialized: Any, agent_id: Optional[str] = None,
                       version: Optional[int] = None, locking: bool = True, writer: Optional[str] = None
                       ) -> Dict[str, Any]:
    """Give a flow run a new state.

    `version` is the run's version the sender read: with version locking on for the run's
    flow group (and `locking`, the server-wide switch), a Running or Submitted state with a
    stale version is refused (see locking.py), but for the sender's own retry (`writer`, its
    writer token) of the Running state it wrote; a finished run takes only the states
    transitions.py allows. Entering Scheduled from outside the queue (a restart, a
    reschedule) puts task runs left Running by a dead process back to Pending, and makes
    every unfinished task run's version stale; a restart of a finished run also gives it
    its full recovery budget again (`times_resurrected` 0). Cancelling or Cancelled
    cascades to the run's children (see `cancel_children`).
    """
    run = fetch_row(conn, "flow_run", lock=True, id=str(flow_run_id))  # one state change at a time
    if run is None:
        raise ApiError(f"State update failed for flow run ID {flow_run_id}: no such flow run.")
    cls = _check_payload(serialized)
    if issubclass(cls, prefect_states.Submitted):
        _check_submitted_lock(conn, run)
    check_transition("flow run", run, cls)
    if version is not None and issubclass(cls, (prefect_states.Submitted, prefect_states.Running)) \
            and locking_enabled(conn, run["flow_group_id"], locking):
        if cls is prefect_states.Running and own_retry(run, version, writer):
            return {"id": run["id"], "status": "SUCCESS", "message": None}
        (check_submitted if issubclass(cls, prefect_states.Submitted) else check_running)("flow run", run, version)
    previous = run["state"]
    serialized = _keep_cancelled_with_parent(run, cls, serialized)
    record_state(conn, "flow_run", run, serialized, writer)
    queue_hooks_after_commit(conn, run)  # delivered in the background, once committed
    if cls is prefect_states.Submitted and agent_id:
        update(conn, "flow_run", run["id"], agent_id=agent_id)
    if _is_requeue(cls, previous):
        reset = reset_running_task_runs(conn, run["id"], "The flow run was rescheduled; this task run will run again.")
        bump_task_runs(conn, run["id"], exclude=reset)
        if is_finished(previous):  # a restart: the run gets its whole recovery budget again
            update(conn, "flow_run", run["id"], times_resurrected=0)
    if cls is prefect_states.Cancelled:
        cancel_task_runs(conn, run["id"], serialized.get("message"))
    elif cls is prefect_states.Cancelling:
        bump_task_runs(conn, run["id"])  # a task not started yet must not start now
    if issubclass(cls, (prefect_states.Cancelled, prefect_states.Cancelling)):
        cancel_children(conn, run)
    return {"id": run["id"], "status": "SUCCESS", "message": None}


def _keep_cancelled_with_parent(run: Dict[str, Any], cls: type, serialized: Dict[str, Any]) -> Dict[str, Any]:
    """A run its parent's cancellation made Cancelling stays marked as cancelled with its
    parent when whoever finishes the cancellation (its process, an agent, recovery) writes
    Cancelled without the mark."""
    if cls is not prefect_states.Cancelled or run["state"] != "Cancelling":
        return serialized
    parent = ((run.get("serialized_state") or {}).get("context") or {}).get(CANCELLED_WITH_PARENT)
    context = serialized.get("context") or {}
    if parent is None or CANCELLED_WITH_PARENT in context:
        return serialized
    return {**serialized, "context": {**context, CANCELLED_WITH_PARENT: parent}}


def _is_requeue(cls: type, previous: Optional[str]) -> bool:
    return (issubclass(cls, prefect_states.Scheduled) and not issubclass(cls, prefect_states.Paused)
            and previous not in QUEUE_STATES)


def reset_running_task_runs(conn: Connection, flow_run_id: str, message: str) -> List[str]:
    """Put the flow run's Running task runs back to Pending; returns their ids.

    Only a process can keep a task run Running; when the flow run goes back to the queue no
    process runs it, so such task runs are leftovers of a dead process, and the rerun must
    run them again rather than stop at "terminal tasks are incomplete".
    """
    reset = []
    for task_run in fetch_rows(conn, "task_run", lock=True, flow_run_id=flow_run_id, state="Running"):
        record_state(conn, "task_run", task_run, prefect_states.Pending(message).serialize())
        reset.append(task_run["id"])
    return reset


def _check_submitted_lock(conn: Connection, run: Dict[str, Any]) -> None:
    """Only a run waiting in the queue can be submitted: a second agent racing for the same
    run finds it already Submitted (or Running...) and is refused with the text agents treat
    as "someone else took it". A run put back in the queue (a restart, a Lazarus reschedule)
    can be submitted again at once."""
    if run["state"] not in QUEUE_STATES:
        raise ApiError("State update failed: this run has already been submitted."
                       if not is_finished(run["state"]) else
                       f"State update failed: this run has already been submitted and is {run['state']}.")


def cancel_children(conn: Connection, parent: Dict[str, Any]) -> List[str]:
    """Cancel the unfinished children of `parent` (runs whose context names it as
    `parent_flow_run_id`), and theirs, unless a child was created detached
    (`cancel_with_parent: false` in its context). Returns the ids cancelled here. Their
    Cancelling/Cancelled states carry `context: {"cancelled_with_parent": <parent id>}`.

    Children already Cancelling or finished are skipped, which also ends the recursion
    on a (forged) cycle of parents."""
    cancelled: List[str] = []
    message = f"Cancelled with its parent flow run {parent.get('name') or parent['id']!r}."
    for child in child_runs(conn, parent["id"]):
        if (child.get("context") or {}).get(CANCEL_WITH_PARENT) is False:
            continue
        if child["state"] == "Cancelling" or is_finished(child["state"]):
            continue
        # cascades further through set_flow_run_state
        cancel_flow_run(conn, child["id"], message, context={CANCELLED_WITH_PARENT: parent["id"]})
        cancelled.append(child["id"])
    return cancelled


def cancel_task_runs(conn: Connection, flow_run_id: str, message: Optional[str]) -> None:
    """Give every unfinished task run of the flow run a Cancelled state."""
    for task_run in fetch_rows(conn, "task_run", lock=True, flow_run_id=flow_run_id):
        if not is_finished(task_run["state"]):
            serialized = prefect_states.Cancelled(message or "Flow run is cancelled").serialize()
            record_state(conn, "task_run", task_run, serialized)


def set_task_run_state(conn: Connection, task_run_id: str, serialized: Any, version: Optional[int] = None,
                       locking: bool = True, writer: Optional[str] = None) -> Dict[str, Any]:
    """Give a task run a new state; a Running state needs its flow run Running (as Prefect
    Server), and, with version locking on, the task run's current version when one is given
    and a task run not Running already (see locking.py), but for the sender's own retry
    (`writer`, its writer token) of the Running state it wrote; a finished task run takes
    only the states transitions.py allows."""
    task_run = fetch_row(conn, "task_run", lock=True, id=str(task_run_id))
    if task_run is None:
        raise ApiError(f"State update failed for task run ID {task_run_id}: no such task run.")
    cls = _check_payload(serialized)
    check_transition("task run", task_run, cls)
    flow_run = None
    if issubclass(cls, (prefect_states.Running, prefect_states.Submitted)):
        flow_run = fetch_row(conn, "flow_run", ("id", "state", "flow_group_id"), id=task_run["flow_run_id"])
    if issubclass(cls, prefect_states.Running):
        if flow_run is None or flow_run["state"] != "Running":
            raise ApiError(
                f"State update failed for task run ID {task_run_id}: provided a running state but "
                f"associated flow run {task_run['flow_run_id']} is not in a running state."
            )
        if locking_enabled(conn, flow_run["flow_group_id"], locking):
            if cls is prefect_states.Running and own_retry(task_run, version, writer):
                return {"id": task_run["id"], "status": "SUCCESS", "message": None}
            check_running("task run", task_run, version)
            check_not_running(task_run)
    elif issubclass(cls, prefect_states.Submitted) and version is not None and flow_run is not None \
            and locking_enabled(conn, flow_run["flow_group_id"], locking):
        check_submitted("task run", task_run, version)
    current = task_run.get("serialized_state") or {}
    if not serialized.get("cached_inputs") and current.get("cached_inputs"):
        serialized = {**serialized, "cached_inputs": current["cached_inputs"]}
    record_state(conn, "task_run", task_run, serialized, writer)
    return {"id": task_run["id"], "status": "SUCCESS", "message": None}


def cancel_flow_run(conn: Connection, flow_run_id: str, message: Optional[str] = None,
                    context: Optional[Dict[str, Any]] = None) -> str:
    """Cancel a run: finished runs stay as they are, running ones go Cancelling, others
    Cancelled; `context` goes into the new state's context."""
    run = fetch_row(conn, "flow_run", lock=True, id=str(flow_run_id))
    if run is None:
        raise ApiError(f"Invalid flow run ID: {flow_run_id}.")
    if is_finished(run["state"]):
        return run["state"]
    new: prefect_states.State
    if run["state"] and issubclass(state_class(run["state"]), prefect_states.Running):
        new = prefect_states.Cancelling(message or "Flow run is cancelling", context=context or {})
    else:
        new = prefect_states.Cancelled(message or "Flow run is cancelled", context=context or {})
    set_flow_run_state(conn, run["id"], new.serialize())
    return type(new).__name__
