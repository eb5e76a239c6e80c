"""Task runs: race-safe get-or-create (mapped children included), names, info."""
from typing import Any, Dict

from prefect.engine.state import Pending
from sqlalchemy.engine import Connection

from ..storage.runs import mapped_children_summary
from ..storage.rows import ConstraintError, delete_rows, fetch_row, insert_rows
from .errors import ApiError
from .records import insert, new_id, update
from .states import record_state
from ..timestamps import clock


TASK_RUN_IDENTITY = ("flow_run_id", "task_id", "map_index")  # unique: one task run per map index


def _info(task_run: Dict[str, Any]) -> Dict[str, Any]:
    return {k: task_run[k] for k in ("id", "version", "serialized_state", "state")}


def get_or_create_task_run_info(conn: Connection, flow_run_id: str, task_id: str, map_index: int = -1) -> Dict[str, Any]:
    """The task run for (flow run, task, map index), inserted with a Pending state if new."""
    map_index = -1 if map_index is None else int(map_index)
    found = fetch_row(conn, "task_run", flow_run_id=str(flow_run_id), task_id=str(task_id), map_index=map_index)
    if found is not None:
        return _info(found)
    flow_run = fetch_row(conn, "flow_run", id=str(flow_run_id))
    if flow_run is None:
        raise ApiError(f"Invalid flow run ID: {flow_run_id}.")
    task = fetch_row(conn, "task", id=str(task_id))
    if task is None or task["flow_id"] != flow_run["flow_id"]:
        raise ApiError("Invalid task ID")
    row = dict(id=new_id(), tenant_id=flow_run["tenant_id"], flow_run_id=flow_run["id"], task_id=task["id"],
               map_index=map_index, cache_key=task["cache_key"], version=0)
    now = clock.now_text()
    try:
        inserted = insert_rows(conn, "task_run", [{**row, "created": now, "updated": now}],
                               conflict_target=TASK_RUN_IDENTITY)
    except ConstraintError as exc:
        raise ApiError(f"The task run could not be created: {exc}") from None
    if not inserted:
        existing = fetch_row(conn, "task_run", flow_run_id=flow_run["id"], task_id=task["id"], map_index=map_index)
        if existing is None:  # skipped only because this row exists, unless it was deleted meanwhile
            raise ApiError("The task run could not be created: a conflicting task run vanished; retry.")
        return _info(existing)
    row.update(created=now, updated=now)
    record_state(conn, "task_run", row, Pending("Task run created").serialize())
    return _info(row)


def get_task_run_info(conn: Connection, task_run_id: str) -> Dict[str, Any]:
    task_run = fetch_row(conn, "task_run", id=str(task_run_id))
    if task_run is None:
        raise ApiError("Invalid task run ID")
    return _info(task_run)


def set_task_run_name(conn: Connection, task_run_id: str, name: str) -> bool:
    if not name:
        raise ApiError("A task run name must be a non-empty string.")
    return update(conn, "task_run", str(task_run_id), name=name) > 0


def update_task_run_heartbeat(conn: Connection, task_run_id: str) -> None:

    update(conn, "task_run", str(task_run_id), heartbeat=clock.now_text())


def create_artifact(conn: Connection, task_run_id: str, kind: str, data: Any) -> str:
    task_run = fetch_row(conn, "task_run", id=str(task_run_id))
    if task_run is None:
        raise ApiError(f"Task run {task_run_id} not found")
    return insert(conn, "task_run_artifact", tenant_id=task_run["tenant_id"], task_run_id=task_run["id"],
                  kind=kind, data=data)["id"]


def update_artifact(conn: Connection, artifact_id: str, data: Any) -> bool:
    return update(conn, "task_run_artifact", str(artifact_id), data=data) > 0


def delete_artifact(conn: Connection, artifact_id: str) -> bool:
    return delete_rows(conn, "task_run_artifact", "id", [str(artifact_id)]) > 0


def mapped_children(conn: Connection, task_run_id: str) -> Dict[str, Any]:
    """For a mapped task run (map_index -1): its children's state counts, earliest start and
    latest end; empty for an unknown id or a task run that is itself a child."""
    task_run = fetch_row(conn, "task_run", id=str(task_run_id))
    if task_run is None or task_run["map_index"] != -1:
        return {"state_counts": {}, "min_start_time": None, "max_end_time": None}
    rows = mapped_children_summary(conn, task_run["flow_run_id"], task_run["task_id"])
    starts = [r[2] for r in rows if r[2] is not None]
    ends = [r[3] for r in rows if r[3] is not None]
    return {"state_counts": {r[0]: r[1] for r in rows if r[0] is not None},
            "min_start_time": min(starts) if starts else None, "max_end_time": max(ends) if ends else None}
