"""Runs whose process died: reschedule them (at most three times), then fail them.

A flow run reports a heartbeat at least every 30 s while it is Submitted or Running (the
agent's Submitted state and the runner's heartbeat process). A run that has been silent
for longer than the threshold lost its process; like Prefect Server's Lazarus service,
we give it a fresh Scheduled state so an agent deploys it again, and after three such
attempts mark it Failed, so parents waiting on it are not left waiting for nothing.
"""
import datetime as dt
from typing import Dict, List

import pendulum
from prefect.engine.state import Failed, Scheduled
from sqlalchemy.engine import Connection

from ..storage.reads import get_row
from ..storage.runs import silent_runs
from ..timestamps import to_utc_text
from .rows import update
from .states import set_flow_run_state

MAX_RESURRECTIONS = 3


def revive_silent_runs(conn: Connection, now: dt.datetime, silent_for: dt.timedelta) -> Dict[str, List[str]]:
    """Reschedule (or fail, after 3 attempts) Submitted/Running runs silent for `silent_for`."""
    outcome: Dict[str, List[str]] = {"rescheduled": [], "failed": []}
    for run_id in silent_runs(conn, ("Submitted", "Running"), to_utc_text(now - silent_for)):
        run = get_row(conn, "flow_run", id=run_id)
        group = get_row(conn, "flow_group", id=run["flow_group_id"]) if run else None
        settings = (group or {}).get("settings") or {}
        if run is None or not settings.get("lazarus_enabled", True) or not settings.get("heartbeat_enabled", True):
            continue  # without heartbeats, silence says nothing about the run
        attempts = run["times_resurrected"] or 0
        if attempts >= MAX_RESURRECTIONS:
            message = (f"No heartbeat for over {int(silent_for.total_seconds())} s after {attempts} reschedules: "
                       "marking the run Failed.")
            set_flow_run_state(conn, run_id, Failed(message).serialize())
            outcome["failed"].append(run_id)
            continue
        message = (f"No heartbeat for over {int(silent_for.total_seconds())} s: its process is gone. "
                   f"Rescheduled (attempt {attempts + 1} of {MAX_RESURRECTIONS}).")
        set_flow_run_state(conn, run_id, Scheduled(message, start_time=pendulum.instance(now)).serialize())
        update(conn, "flow_run", run_id, times_resurrected=attempts + 1)
        outcome["rescheduled"].append(run_id)
    return outcome
