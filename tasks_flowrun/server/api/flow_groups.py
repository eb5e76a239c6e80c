"""Flow groups (all versions of one flow): labels, run config, schedule, defaults, settings.

As in Prefect Server, each setter answers whether a flow group with that id was updated
(False for an unknown id); a schedule change deletes the group's auto-scheduled runs that
have not started, and the next runs are scheduled from the new schedule.
"""
from typing import Any, Dict, List, Optional

from prefect.serialization.schedule import ClockSchema
from sqlalchemy.engine import Connection

from ..storage.rows import fetch_row
from ..storage.reads import select_rows
from ..storage.flows import delete_flow_group_row
from ..storage.runs import delete_flow_run_rows
from .errors import ApiError
from .flows import delete_flow, get_flow
from .records import update
from .schedules import schedule_flow_runs

MICROSECONDS = 1_000_000


def _set(conn: Connection, flow_group_id: str, **values: Any) -> bool:
    return update(conn, "flow_group", str(flow_group_id), **values) > 0


def set_labels(conn: Connection, flow_group_id: str, labels: Optional[List[str]]) -> bool:
    """None removes the group's labels (its flows' own labels apply again)."""
    return _set(conn, flow_group_id, labels=sorted(set(labels)) if labels is not None else None)


def set_run_config(conn: Connection, flow_group_id: str, run_config: Optional[Dict[str, Any]]) -> bool:
    if run_config is not None and not isinstance(run_config, dict):
        raise ApiError("run_config must be a serialized RunConfig object or null.")
    return _set(conn, flow_group_id, run_config=run_config)


def set_description(conn: Connection, flow_group_id: str, description: Optional[str]) -> bool:
    return _set(conn, flow_group_id, description=description)


def set_default_parameters(conn: Connection, flow_group_id: str, parameters: Any) -> bool:
    if not isinstance(parameters, dict):
        raise ApiError("parameters must be a JSON object mapping parameter names to default values.")
    return _set(conn, flow_group_id, default_parameters=parameters)


def clocks_from_input(cron_clocks: Optional[List[Dict]], interval_clocks: Optional[List[Dict]]) -> List[Dict]:
    """Serialized clocks from the mutation's input (intervals in seconds)."""
    clocks = [{"type": "CronClock", **clock} for clock in cron_clocks or []]
    for clock in interval_clocks or []:
        if not isinstance(clock.get("interval"), int) or clock["interval"] <= 0:
            raise ApiError(f"Invalid interval clock {clock}: interval must be a positive number of seconds.")
        serialized = {"type": "IntervalClock", "interval": clock["interval"] * MICROSECONDS}
        if clock.get("parameter_defaults"):
            serialized["parameter_defaults"] = clock["parameter_defaults"]
        clocks.append(serialized)
    return clocks


def set_schedule(conn: Connection, flow_group_id: str, clocks: List[Dict[str, Any]],
                 timezone: Optional[str] = None) -> bool:
    import pendulum

    start_date = None
    if timezone:
        if timezone not in pendulum.timezones:
            raise ApiError(f"Invalid timezone provided for schedule: {timezone}")
        start_date = {"dt": pendulum.now(timezone).naive().to_iso8601_string(), "tz": timezone}
    for clock in clocks:
        clock["start_date"] = start_date
        try:
            ClockSchema().load(clock)
        except Exception:
            raise ApiError(f"Invalid clock provided for schedule: {clock}") from None
    if not _set(conn, flow_group_id, schedule={"type": "Schedule", "clocks": clocks}):
        return False
    _reschedule(conn, flow_group_id)
    return True


def delete_schedule(conn: Connection, flow_group_id: str) -> bool:
    if not _set(conn, flow_group_id, schedule=None):
        return False
    _reschedule(conn, flow_group_id)
    return True


def _reschedule(conn: Connection, flow_group_id: str) -> None:
    """Drop the group's auto-scheduled runs that have not started; schedule anew."""
    for run in select_rows(conn, "flow_run", {"flow_group_id": {"_eq": flow_group_id}, "state": {"_eq": "Scheduled"},
                                              "auto_scheduled": {"_eq": True}}):
        delete_flow_run_rows(conn, run["id"])
    for flow in select_rows(conn, "flow", {"flow_group_id": {"_eq": flow_group_id}, "archived": {"_eq": False}}):
        schedule_flow_runs(conn, flow["id"])


def update_setting(conn: Connection, flow_id: str, **settings: Any) -> bool:
    """Merge `settings` into the settings of the flow's group (heartbeat, Lazarus, version
    locking)."""
    flow = get_flow(conn, flow_id, "Invalid flow ID.")
    group = fetch_row(conn, "flow_group", id=flow["flow_group_id"])
    if group is None:
        raise ApiError("Invalid flow group ID")
    return _set(conn, group["id"], settings={**(group["settings"] or {}), **settings})


def delete_flow_group(conn: Connection, flow_group_id: str) -> bool:
    """Delete a flow group with all its flows (and their runs); False for an unknown id."""
    if fetch_row(conn, "flow_group", id=str(flow_group_id)) is None:
        return False
    for flow in select_rows(conn, "flow", {"flow_group_id": {"_eq": flow_group_id}}):
        delete_flow(conn, flow["id"])
    return delete_flow_group_row(conn, str(flow_group_id))
