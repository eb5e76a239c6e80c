"""Run logs written by flow runners and agents."""
from typing import Any, Dict, List

from sqlalchemy.engine import Connection

from ..change_feed import LOGS
from ..storage.database import note_change
from ..storage.rows import insert_rows
from ..timestamps import clock
from .errors import ApiError
from .records import new_id

LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}  # Prefect Server's log_level enum


def write_run_logs(conn: Connection, logs: List[Dict[str, Any]]) -> bool:
    """Store log records; a record without a timestamp is stamped now, without a level INFO."""
    rows = []
    now = clock.now_text()
    for entry in logs:
        if not entry.get("flow_run_id"):
            raise ApiError("Each log needs a flow_run_id.")
        level = str(entry.get("level") or "INFO").upper()
        if level not in LEVELS:
            raise ApiError(f"Unknown log level {entry.get('level')!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL.")
        rows.append(dict(
            id=new_id(), tenant_id=None, flow_run_id=str(entry["flow_run_id"]),
            task_run_id=str(entry["task_run_id"]) if entry.get("task_run_id") else None,
            timestamp=entry.get("timestamp") or now, name=entry.get("name"), level=level,
            message=entry.get("message"), info=entry.get("info"), created=now, updated=now,
        ))
    insert_rows(conn, "log", rows)
    for flow_run_id in {str(row["flow_run_id"]) for row in rows}:
        note_change(conn, flow_run_id, LOGS)
    return True
