"""Flow runs: creation (atomic idempotency), the agent queue, heartbeats, renames."""
from typing import Any, Dict, List, Optional, Tuple

import pendulum
from prefect.engine.state import Scheduled
from sqlalchemy.engine import Connection

from ..change_feed import QUEUE
from ..storage.database import note_change
from ..storage.rows import ConstraintError, fetch_row, fetch_rows, insert_rows
from ..storage.runs import GROUP_FOR_RUN, delete_flow_run_rows, flow_with_group, queue, run_id_for_key
from ..timestamps import clock, to_datetime
from .errors import ApiError, NotFound
from .flows import newest_unarchived
from .names import generate_run_name
from .parents import check_parent
from .records import insert, new_id, update
from .states import QUEUE_STATES, state_columns

QUEUE_SIZE = 25
IDEMPOTENCY_KEY = ("flow_group_id", "idempotency_key")  # the unique key a repeated create hits
PENDING_TASK_STATE = {"type": "Pending", "message": "Task run created"}
_SCHEDULED = Scheduled("Flow run scheduled.").serialize()  # a template: only start_time varies


def scheduled_state(start_time: str) -> Dict[str, Any]:
    """The serialized first state of a new run, due at `start_time` (stored UTC text)."""
    moment = to_datetime(start_time)
    if moment is None:
        raise ApiError(f"Invalid scheduled start time {start_time!r}.")
    return {**_SCHEDULED, "start_time": pendulum.instance(moment).isoformat()}


def resolve_flow(conn: Connection, flow_id: Optional[str], version_group_id: Optional[str],
                 flow_group_id: Optional[str]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The flow a new run is for, from exactly one of the three identifiers, and its group's
    settings (labels, run_config, default_parameters)."""
    given = [n for n, v in (("flow_id", flow_id), ("version_group_id", version_group_id),
                            ("flow_group_id", flow_group_id)) if v]
    if len(given) != 1:
        raise ApiError("Exactly one of flow_id, version_group_id or flow_group_id must be provided; "
                       f"got {', '.join(given) or 'none'}.")
    if flow_id:
        found = flow_with_group(conn, str(flow_id))
        if found is None:
            raise NotFound(f"Flow {flow_id} not found.")
        if found[0]["archived"]:
            raise ApiError(f"Flow {flow_id} is archived: register it again or run its newest version "
                           "(pass its flow_group_id to always run the newest).")
        return found
    if version_group_id:
        flow = newest_unarchived(conn, {"version_group_id": {"_eq": version_group_id}})
        if flow is None:
            raise NotFound(f"Version group {version_group_id} has no unarchived flows.")
    else:
        if fetch_row(conn, "flow_group", id=str(flow_group_id)) is None:
            raise NotFound(f"Flow group {flow_group_id} not found.")
        flow = newest_unarchived(conn, {"flow_group_id": {"_eq": flow_group_id}})
        if flow is None:
            raise NotFound(f"Flow group {flow_group_id} has no unarchived flows.")
    return flow, fetch_row(conn, "flow_group", GROUP_FOR_RUN, id=flow["flow_group_id"]) or {}


def _labels(given: Optional[List[str]], run_config: Optional[Dict], group: Dict, flow: Dict) -> List[str]:
    candidates = [
        given,
        (run_config or {}).get("labels"),
        group.get("labels"),
        (group.get("run_config") or {}).get("labels"),
        (flow.get("run_config") or {}).get("labels"),
        (flow.get("environment") or {}).get("labels"),
    ]
    labels = next((c for c in candidates if c is not None), [])
    if not isinstance(labels, list) or not all(isinstance(l, str) for l in labels):
        raise ApiError("labels must be a list of strings.")
    return sorted(set(labels))


def _parameters(given: Any, group: Dict, flow: Dict) -> Dict[str, Any]:
    if given is not None and not isinstance(given, dict):
        raise ApiError("parameters must be a JSON object mapping parameter names to values.")
    merged: Dict[str, Any] = {}
    declared = flow.get("parameters") or []
    for param in declared:
        if not param.get("required") and param.get("default") is not None:
            merged[param["name"]] = param["default"]
    merged.update(group.get("default_parameters") or {})
    merged.update(given or {})
    missing = sorted(p["name"] for p in declared if p.get("required") and p["name"] not in merged)
    if missing:
        raise ApiError(f"Required parameters were not supplied: {set(missing)}")
    return merged


def create_flow_run(
    conn: Connection,
    flow_id: Optional[str] = None,
    version_group_id: Optional[str] = None,
    flow_group_id: Optional[str] = None,
    parameters: Any = None,
    context: Any = None,
    labels: Optional[List[str]] = None,
    run_config: Any = None,
    flow_run_name: Optional[str] = None,
    scheduled_start_time: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    auto_scheduled: bool = False,
) -> str:
    """Create a Scheduled run with one Pending task run per task; a repeated key returns the
    first run. A child of a cancelled or deleted run is refused (see parents.py)."""
    flow, group = resolve_flow(conn, flow_id, version_group_id, flow_group_id)
    check_parent(conn, context)
    try:
        values = _new_run(flow, group, parameters, context, labels, run_config, flow_run_name,
                          scheduled_start_time, idempotency_key, auto_scheduled)
        # The run is inserted already in its first state (Scheduled, version 1).
        history, derived = state_columns("flow_run", values, scheduled_state(values["scheduled_start_time"]))
    except ApiError:
        # a repeated key returns the first run, whatever else this request says
        existing = None if idempotency_key is None else run_id_for_key(conn, flow["flow_group_id"], idempotency_key)
        if existing is None:
            raise
        return existing
    values.update(derived)
    # ON CONFLICT on the unique (flow_group_id, idempotency_key): atomic even without the lock.
    try:
        inserted = insert_rows(conn, "flow_run", [values], conflict_target=IDEMPOTENCY_KEY)
    except ConstraintError as exc:
        raise ApiError(f"The flow run could not be created: {exc}") from None
    if not inserted:
        # the key was used before (looked up only now: a new key costs no look-up)
        existing = run_id_for_key(conn, flow["flow_group_id"], str(idempotency_key))
        if existing is None:
            raise ApiError("The flow run could not be created: its idempotency key conflicts with a run "
                           "that no longer exists; retry the request.")
        return existing
    insert(conn, "flow_run_state", **history)
    _create_task_runs(conn, values)
    note_change(conn, values["id"], QUEUE, due=values["state_start_time"])  # wakes agents when due
    return values["id"]


def _new_run(flow: Dict[str, Any], group: Dict[str, Any], parameters: Any, context: Any, labels: Optional[List[str]],
             run_config: Any, flow_run_name: Optional[str], scheduled_start_time: Optional[str],
             idempotency_key: Optional[str], auto_scheduled: bool) -> Dict[str, Any]:
    """The new run's row; ApiError if the request is invalid."""
    if context is not None and not isinstance(context, dict):
        raise ApiError("context must be a JSON object.")
    if run_config is not None and not isinstance(run_config, dict):
        raise ApiError("run_config must be a serialized RunConfig object.")
    now = clock.now_text()
    start = scheduled_start_time or now
    return dict(
        id=new_id(), tenant_id=flow["tenant_id"], flow_id=flow["id"], flow_group_id=flow["flow_group_id"],
        name=flow_run_name or generate_run_name(), labels=_labels(labels, run_config, group, flow),
        parameters=_parameters(parameters, group, flow), context=context or {},
        run_config=run_config or group.get("run_config") or flow.get("run_config"),
        idempotency_key=idempotency_key, scheduled_start_time=start, auto_scheduled=auto_scheduled,
        times_resurrected=0, version=0, created=now, updated=now,
    )


def _create_task_runs(conn: Connection, run: Dict[str, Any]) -> None:
    tasks = fetch_rows(conn, "task", ("id", "cache_key"), flow_id=run["flow_id"])
    now = clock.now_text()
    task_runs, states = [], []
    for task in tasks:
        task_run_id = new_id()
        task_runs.append(dict(
            id=task_run_id, tenant_id=run["tenant_id"], flow_run_id=run["id"], task_id=task["id"], map_index=-1,
            cache_key=task["cache_key"], version=1, state="Pending", state_timestamp=now,
            state_message="Task run created", serialized_state=PENDING_TASK_STATE, created=now, updated=now,
        ))
        states.append(dict(
            id=new_id(), tenant_id=run["tenant_id"], task_run_id=task_run_id, version=1, state="Pending",
            timestamp=now, message="Task run created", serialized_state=PENDING_TASK_STATE, created=now, updated=now,
        ))
    insert_rows(conn, "task_run", task_runs)
    insert_rows(conn, "task_run_state", states)


def get_runs_in_queue(conn: Connection, tenant_id: Optional[str], before: Optional[str],
                      labels: Optional[List[str]], agent_id: Optional[str] = None) -> List[str]:
    """Ids of runs due by `before` that an agent with `labels` may take (oldest first, at most 25)."""
    return queue(conn, QUEUE_STATES, before or clock.now_text(), tenant_id, labels or [], QUEUE_SIZE)


def update_heartbeat(conn: Connection, flow_run_id: str) -> None:
    update(conn, "flow_run", str(flow_run_id), heartbeat=clock.now_text())


def set_flow_run_name(conn: Connection, flow_run_id: str, name: str) -> bool:
    if not name:
        raise ApiError("A flow run name must be a non-empty string.")
    return update(conn, "flow_run", str(flow_run_id), name=name) > 0


def set_flow_run_labels(conn: Connection, flow_run_id: str, labels: List[str]) -> bool:
    if labels is None or not all(isinstance(l, str) for l in labels):
        raise ApiError("labels must be a list of strings.")
    return update(conn, "flow_run", str(flow_run_id), labels=sorted(set(labels))) > 0


def delete_flow_run(conn: Connection, flow_run_id: str) -> bool:
    """Delete a run with its states, task runs and logs."""
    return delete_flow_run_rows(conn, str(flow_run_id))
