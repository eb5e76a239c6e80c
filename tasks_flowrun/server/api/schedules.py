"""Scheduled runs of flows whose schedule is active (what Prefect Server's scheduler does)."""
import hashlib
import json
from typing import Any, List

import pendulum

from prefect.serialization.schedule import ScheduleSchema
from sqlalchemy.engine import Connection

from ..storage.rows import fetch_row
from ..storage.reads import select_rows
from ..timestamps import clock, to_utc_text
from .flow_runs import create_flow_run

RUNS_AHEAD = 10


def _key(event: Any) -> str:
    """Idempotency key of an auto-scheduled run: its start time (+ a digest of clock options)."""
    key = f"auto-scheduled:{to_utc_text(event.start_time)}"
    if event.parameter_defaults or event.labels:
        extra = json.dumps([event.parameter_defaults, event.labels], sort_keys=True, default=str)
        key += ":" + hashlib.md5(extra.encode()).hexdigest()
    return key


def schedule_flow_runs(conn: Connection, flow_id: str, runs_ahead: int = RUNS_AHEAD) -> List[str]:
    """Create the flow's next scheduled runs (up to `runs_ahead` in the future); returns new run ids."""
    flow = fetch_row(conn, "flow", id=flow_id)
    if flow is None or flow["archived"] or not flow["is_schedule_active"]:
        return []
    group = fetch_row(conn, "flow_group", id=flow["flow_group_id"]) or {}
    serialized = group.get("schedule") or flow["schedule"]
    if not serialized:
        return []
    schedule = ScheduleSchema().load(serialized)
    now = clock.now()
    future = select_rows(conn, "flow_run", {"flow_id": {"_eq": flow_id}, "auto_scheduled": {"_eq": True},
                                            "scheduled_start_time": {"_gt": to_utc_text(now)}})
    wanted = runs_ahead - len(future)
    if wanted <= 0:
        return []
    last = max((r["scheduled_start_time"] for r in future), default=None)
    after = clock.now() if last is None else pendulum.parse(last)
    created = []
    for event in schedule.next(wanted, after=after, return_events=True):
        run_id = create_flow_run(
            conn, flow_id=flow_id, parameters=dict(event.parameter_defaults or {}), labels=event.labels,
            scheduled_start_time=to_utc_text(event.start_time), idempotency_key=_key(event),
            auto_scheduled=True,
        )
        created.append(run_id)
    return created


def active_flow_ids(conn: Connection) -> List[str]:
    return [r["id"] for r in select_rows(conn, "flow", {"is_schedule_active": {"_eq": True},
                                                        "archived": {"_eq": False}})]
