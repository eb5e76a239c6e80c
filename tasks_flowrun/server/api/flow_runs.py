"""Flow runs: creation (atomic idempotency), the agent queue, heartbeats, renames."""
import datetime as dt
from typing import Any, Dict, List, Optional

import pendulum
import sqlalchemy as sa
from prefect.engine.state import Pending, Scheduled
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from ..storage.reads import get_row, select_rows
from ..storage.tables import TABLES
from ..timestamps import clock, to_datetime, to_utc_text
from .errors import ApiError, NotFound
from .flows import get_flow, newest_unarchived
from .names import generate_run_name
from .rows import insert, new_id, update
from .states import QUEUE_STATES, record_state

QUEUE_SCAN = 75
QUEUE_SIZE = 25
PENDING_TASK_STATE = {"type": "Pending", "message": "Task run created"}


def resolve_flow(conn: Connection, flow_id: Optional[str], version_group_id: Optional[str],
                 flow_group_id: Optional[str]) -> Dict[str, Any]:
    """The flow a new run is for, from exactly one of the three identifiers."""
    given = [n for n, v in (("flow_id", flow_id), ("version_group_id", version_group_id),
                            ("flow_group_id", flow_group_id)) if v]
    if len(given) != 1:
        raise ApiError("Exactly one of flow_id, version_group_id or flow_group_id must be provided; "
                       f"got {', '.join(given) or 'none'}.")
    if flow_id:
        flow = get_flow(conn, flow_id)
        if flow["archived"]:
            raise ApiError(f"Flow {flow_id} is archived: register it again or run its newest version "
                           "(pass its flow_group_id to always run the newest).")
        return flow
    if version_group_id:
        flow = newest_unarchived(conn, {"version_group_id": {"_eq": version_group_id}})
        if flow is None:
            raise NotFound(f"Version group {version_group_id} has no unarchived flows.")
        return flow
    if get_row(conn, "flow_group", id=str(flow_group_id)) is None:
        raise NotFound(f"Flow group {flow_group_id} not found.")
    flow = newest_unarchived(conn, {"flow_group_id": {"_eq": flow_group_id}})
    if flow is None:
        raise NotFound(f"Flow group {flow_group_id} has no unarchived flows.")
    return flow


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
) -> str:
    """Create a Scheduled run with one Pending task run per task; a repeated key returns the first run."""
    flow = resolve_flow(conn, flow_id, version_group_id, flow_group_id)
    runs = TABLES["flow_run"]
    if idempotency_key is not None:
        existing = conn.execute(sa.select(runs.c.id).where(
            runs.c.flow_group_id == flow["flow_group_id"], runs.c.idempotency_key == idempotency_key)).first()
        if existing is not None:
            return existing.id
    if context is not None and not isinstance(context, dict):
        raise ApiError("context must be a JSON object.")
    if run_config is not None and not isinstance(run_config, dict):
        raise ApiError("run_config must be a serialized RunConfig object.")
    group = get_row(conn, "flow_group", id=flow["flow_group_id"]) or {}
    now = clock.now_text()
    start = scheduled_start_time or now
    values = dict(
        id=new_id(), tenant_id=flow["tenant_id"], flow_id=flow["id"], flow_group_id=flow["flow_group_id"],
        name=flow_run_name or generate_run_name(), labels=_labels(labels, run_config, group, flow),
        parameters=_parameters(parameters, group, flow), context=context or {},
        run_config=run_config or group.get("run_config") or flow.get("run_config"),
        idempotency_key=idempotency_key, scheduled_start_time=start, auto_scheduled=False,
        times_resurrected=0, version=0, created=now, updated=now,
    )
    # Insert-or-ignore on the unique (flow_group_id, idempotency_key): atomic even without the lock.
    inserted = conn.execute(sqlite_insert(runs).values(**values).on_conflict_do_nothing()).rowcount
    if not inserted:
        return conn.execute(sa.select(runs.c.id).where(
            runs.c.flow_group_id == flow["flow_group_id"], runs.c.idempotency_key == idempotency_key)).scalar_one()
    _create_task_runs(conn, values)
    scheduled = Scheduled("Flow run scheduled.", start_time=pendulum.instance(to_datetime(start)))
    record_state(conn, "flow_run", values, scheduled.serialize())
    return values["id"]


def _create_task_runs(conn: Connection, run: Dict[str, Any]) -> None:
    tasks = select_rows(conn, "task", {"flow_id": {"_eq": run["flow_id"]}})
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
    if task_runs:
        conn.execute(sa.insert(TABLES["task_run"]), task_runs)
        conn.execute(sa.insert(TABLES["task_run_state"]), states)


def get_runs_in_queue(conn: Connection, tenant_id: Optional[str], before: Optional[str],
                      labels: Optional[List[str]], agent_id: Optional[str] = None) -> List[str]:
    """Ids of runs due by `before` that an agent with `labels` may take (oldest first, at most 25)."""
    runs, task_runs = TABLES["flow_run"], TABLES["task_run"]
    before = before or clock.now_text()
    due_task = sa.exists().where(task_runs.c.flow_run_id == runs.c.id, task_runs.c.state.in_(QUEUE_STATES),
                                 task_runs.c.state_start_time <= before)
    query = sa.select(runs.c.id, runs.c.labels).where(sa.or_(
        sa.and_(runs.c.state.in_(QUEUE_STATES), runs.c.state_start_time <= before),
        sa.and_(runs.c.state == "Running", due_task),
    ))
    if tenant_id:
        query = query.where(runs.c.tenant_id == tenant_id)
    query = query.order_by(runs.c.state_start_time, runs.c.id).limit(QUEUE_SCAN)
    agent_labels = set(labels or [])
    chosen = []
    for row in conn.execute(query):
        run_labels = set(row.labels or [])
        if run_labels <= agent_labels and not (agent_labels and not run_labels):
            chosen.append(row.id)
        if len(chosen) == QUEUE_SIZE:
            break
    return chosen


def update_heartbeat(conn: Connection, flow_run_id: str) -> None:
    update(conn, "flow_run", str(flow_run_id), heartbeat=clock.now_text())


def set_flow_run_name(conn: Connection, flow_run_id: str, name: str) -> bool:
    if not name:
        raise ApiError("A flow run name must be a non-empty string.")
    return update(conn, "flow_run", str(flow_run_id), name=name) > 0


def delete_flow_run(conn: Connection, flow_run_id: str) -> bool:
    """Delete a run with its states, task runs and logs."""
    tables = TABLES
    task_run_ids = [r["id"] for r in select_rows(conn, "task_run", {"flow_run_id": {"_eq": flow_run_id}})]
    if task_run_ids:
        conn.execute(sa.delete(tables["task_run_state"]).where(tables["task_run_state"].c.task_run_id.in_(task_run_ids)))
    for name in ("task_run", "flow_run_state", "log"):
        conn.execute(sa.delete(tables[name]).where(tables[name].c.flow_run_id == flow_run_id))
    return conn.execute(sa.delete(tables["flow_run"]).where(tables["flow_run"].c.id == flow_run_id)).rowcount > 0
