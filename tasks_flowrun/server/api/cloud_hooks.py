"""Cloud hooks: notifications of flow run state changes, as on Prefect Server.

A hook names the states it answers (upper case), optionally one flow version group, and
where to send the news: a webhook (the event as JSON), a Slack webhook, a Prefect message
(a `message` row, the UI's notifications), Twilio text messages or a PagerDuty event.

The rules live here, with no network I/O: a committed state change is queued in this
process's outbox (`queue_hooks_after_commit`; a state change that rolls back queues
nothing), and `services/cloud_hook_delivery.py` calls the matching hooks in a few background
threads with short HTTP timeouts, so a slow or failing hook never slows or fails the state
change. `test_cloud_hook` builds a sample event here; the delivery service sends it.
"""
import logging
import threading
import uuid
import weakref
from collections import deque
from datetime import datetime, timezone
from typing import Any, Deque, Dict, List, Optional, Tuple

from prefect.engine import state as prefect_states
from sqlalchemy.engine import Connection

from ..storage.database import Database, after_commit
from ..storage.rows import delete_rows, fetch_row, fetch_rows
from .errors import ApiError, NotFound
from .names import generate_run_name
from .records import insert, update

logger = logging.getLogger("tasks_flowrun.server")

HOOK_TYPES = ("WEBHOOK", "SLACK_WEBHOOK", "PREFECT_MESSAGE", "TWILIO", "PAGERDUTY")
ALL_STATES = frozenset(cls.__name__.upper() for cls in prefect_states.State.children())
TWILIO_KEYS = {"account_sid", "auth_token", "messaging_service_sid", "to"}
PAGERDUTY_KEYS = {"api_token", "routing_key", "severity"}
PAGERDUTY_SEVERITIES = ("info", "warning", "error", "critical")
MAX_PENDING = 1000  # state changes waiting for their hooks; past it, new ones are dropped (and logged)
TEST_STATES = {"SCHEDULED": prefect_states.Scheduled, "SUBMITTED": prefect_states.Submitted,
               "RUNNING": prefect_states.Running, "SUCCESS": prefect_states.Success,
               "FAILED": prefect_states.Failed}


# -- hooks ------------------------------------------------------------------------------


def create_cloud_hook(conn: Connection, tenant_id: str, type: str, states: List[str],
                      config: Optional[Dict[str, Any]] = None, version_group_id: Optional[str] = None,
                      name: Optional[str] = None) -> str:
    """A new active hook; its id. Refused (with Server's messages) for unknown states or
    types, and for a config without exactly the keys its type needs."""
    if not tenant_id:
        raise ApiError("Invalid tenant ID")
    if not states:
        raise ApiError("Invalid states")
    wanted = list(dict.fromkeys(str(s).upper() for s in states))  # case-insensitive, each once
    if not all(s in ALL_STATES for s in wanted):
        raise ApiError("Invalid states")
    _check_config(type, config)
    if fetch_row(conn, "tenant", ["id"], id=str(tenant_id)) is None:
        raise NotFound(f"Tenant {tenant_id} not found.")
    return insert(conn, "cloud_hook", tenant_id=str(tenant_id), type=type, states=wanted, config=config or {},
                  version_group_id=version_group_id, name=name, active=True)["id"]


def _check_config(type: str, config: Optional[Dict[str, Any]]) -> None:
    keys = set(config or {})
    if type not in HOOK_TYPES:
        raise ApiError("Invalid cloud hook type")
    if type in ("WEBHOOK", "SLACK_WEBHOOK") and keys != {"url"}:
        raise ApiError("Invalid config; expected `url`")
    if type == "TWILIO" and (keys != TWILIO_KEYS or not (config or {}).get("to")):
        raise ApiError("Invalid config; expected `account_sid`, `auth_token`, `messaging_service_sid`, and `to`")
    if type == "PAGERDUTY":
        if keys != PAGERDUTY_KEYS:
            raise ApiError("Invalid config; expected `api_token`, `routing_key`, & `severity`")
        if (config or {})["severity"] not in PAGERDUTY_SEVERITIES:
            raise ApiError("Invalid config; severity must be one of {info, warning, error, critical}")


def _hook_id(cloud_hook_id: Any) -> str:
    if not cloud_hook_id:
        raise ApiError("Invalid ID")
    return str(cloud_hook_id)


def delete_cloud_hook(conn: Connection, cloud_hook_id: str) -> bool:
    """False for an unknown hook."""
    return delete_rows(conn, "cloud_hook", "id", [_hook_id(cloud_hook_id)]) > 0


def set_cloud_hook_active(conn: Connection, cloud_hook_id: str) -> bool:
    return update(conn, "cloud_hook", _hook_id(cloud_hook_id), active=True) > 0


def set_cloud_hook_inactive(conn: Connection, cloud_hook_id: str) -> bool:
    return update(conn, "cloud_hook", _hook_id(cloud_hook_id), active=False) > 0


def matching_hooks(conn: Connection, tenant_id: str, version_group_id: Optional[str],
                   state: str) -> List[Dict[str, Any]]:
    """The tenant's active hooks for `state` and for this version group (or every flow)."""
    wanted = state.upper()
    return [hook for hook in fetch_rows(conn, "cloud_hook", tenant_id=str(tenant_id), active=True)
            if wanted in (hook["states"] or []) and hook["version_group_id"] in (None, version_group_id)]


# -- events -----------------------------------------------------------------------------


def _event(flow_run: Dict[str, Any], flow: Dict[str, Any], tenant: Dict[str, Any], state: Dict[str, Any],
           is_test_event: bool = False) -> Dict[str, Any]:
    """Prefect Server's FlowRunStateChange event, as its hooks receive it."""
    return {"id": str(uuid.uuid4()), "timestamp": datetime.now(timezone.utc).isoformat(),
            "type": "FlowRunStateChange", "flow_run": flow_run, "state": state, "flow": flow, "tenant": tenant,
            "is_test_event": is_test_event}


def _flow_part(flow: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    flow = flow or {}
    return {k: flow.get(k) for k in ("id", "tenant_id", "name", "version_group_id", "flow_group_id")}


def _tenant_part(tenant: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    return {"id": (tenant or {}).get("id"), "slug": (tenant or {}).get("slug")}


def state_change_event(run: Dict[str, Any], flow: Optional[Dict[str, Any]],
                       tenant: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The event of a flow run's new state (`run` as it is right after the change)."""
    flow_run = {k: run.get(k) for k in ("id", "tenant_id", "flow_id", "name", "version", "state")}
    state = {"tenant_id": run.get("tenant_id"), "flow_run_id": run.get("id"), "version": run.get("version"),
             "state": run.get("state"), "timestamp": run.get("state_timestamp"), "message": run.get("state_message"),
             "start_time": run.get("state_start_time"), "serialized_state": run.get("serialized_state")}
    return _event(flow_run, _flow_part(flow), _tenant_part(tenant), state)


# -- the outbox: state changes whose hooks are to be called -----------------------------


class HookOutbox:
    """Flow runs (as they were right after a committed state change) whose matching hooks
    are to be called, in order, for the delivery service (services/cloud_hook_delivery.py)
    of this process; past MAX_PENDING waiting, new ones are dropped (and logged) rather than
    piling up behind a hook that hangs."""

    def __init__(self, limit: int = MAX_PENDING) -> None:
        self.limit = limit
        self._runs: Deque[Dict[str, Any]] = deque()
        self._ready = threading.Condition()
        self.closed = False

    def put(self, run: Dict[str, Any]) -> None:
        with self._ready:
            if len(self._runs) >= self.limit:
                logger.warning("A cloud hook call was dropped: %d calls are waiting already", len(self._runs))
                return
            self._runs.append(run)
            self._ready.notify()

    def take(self, timeout: float) -> Optional[Dict[str, Any]]:
        """The oldest run waiting, or None after `timeout` seconds (or once closed)."""
        with self._ready:
            if not self._runs and not self.closed:
                self._ready.wait(timeout)
            return self._runs.popleft() if self._runs else None

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify_all()


_outboxes: "weakref.WeakKeyDictionary[Database, HookOutbox]" = weakref.WeakKeyDictionary()


def open_outbox(db: Database) -> HookOutbox:
    """The outbox of `db`'s state changes in this process (its delivery service opens it:
    without one, nothing is queued)."""
    box = _outboxes.get(db)
    if box is None or box.closed:
        box = _outboxes[db] = HookOutbox()
    return box


def close_outbox(db: Database) -> None:
    box = _outboxes.pop(db, None)
    if box is not None:
        box.close()


def queue_hooks_after_commit(conn: Connection, run: Dict[str, Any]) -> None:
    """Once this transaction commits, queue `run`'s new state for its hooks (the state
    change never waits for them; one that rolls back queues nothing)."""
    snapshot = dict(run)
    after_commit(conn, lambda db: _queue(db, snapshot))


def _queue(db: Database, run: Dict[str, Any]) -> None:
    box = _outboxes.get(db)
    if box is not None:
        box.put(run)


def hooks_to_call(db: Database, run: Dict[str, Any]) -> Tuple[List[Dict[str, Any]], Optional[Dict[str, Any]]]:
    """The hooks matching `run`'s new state, and the event they are sent (none: no event)."""
    with db.read() as conn:
        # most backends have no hook: one look at the (small) hook table, nothing more
        if not fetch_rows(conn, "cloud_hook", ("id",), limit=1, tenant_id=str(run["tenant_id"]), active=True):
            return [], None
        flow = fetch_row(conn, "flow", id=run["flow_id"])
        hooks = matching_hooks(conn, run["tenant_id"], (flow or {}).get("version_group_id"), run["state"] or "")
        if not hooks:
            return [], None
        tenant = fetch_row(conn, "tenant", id=run["tenant_id"])
    return hooks, state_change_event(run, flow, tenant)


# -- test_cloud_hook --------------------------------------------------------------------


def test_event(db: Database, cloud_hook_id: str, flow_run_id: Optional[str] = None,
               state_type: Optional[str] = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The hook and the sample event `test_cloud_hook` sends it now (whatever its states):
    about `flow_run_id` if given (its next version in the sample state), else about a
    made-up run of a made-up flow. The state is Success unless `state_type` names another."""
    cls = TEST_STATES.get(state_type or "", prefect_states.Success)
    serialized = cls(f"Test {cls.__name__.lower()} state").serialize()
    state = {"version": 1, "state": serialized["type"], "serialized_state": serialized}
    with db.read() as conn:
        hook = fetch_row(conn, "cloud_hook", id=_hook_id(cloud_hook_id))
        if hook is None:
            raise ApiError("Invalid ID")
        if flow_run_id:
            event = _test_event_of_run(conn, str(flow_run_id), serialized, state)
        else:
            event = _event({"id": str(uuid.uuid4()), "name": generate_run_name()},
                           {"id": str(uuid.uuid4()), "name": "Cloud Hook Test Flow"},
                           {"id": hook["tenant_id"], "slug": "test-slug"}, state, is_test_event=True)
    return hook, event


def _test_event_of_run(conn: Connection, flow_run_id: str, serialized: Dict[str, Any],
                       state: Dict[str, Any]) -> Dict[str, Any]:
    """A test event about an existing run, as its next state would be announced."""
    run = fetch_row(conn, "flow_run", id=flow_run_id)
    if run is None:
        raise ApiError(f"Invalid flow run ID {flow_run_id}")
    flow = fetch_row(conn, "flow", id=run["flow_id"])
    tenant = fetch_row(conn, "tenant", id=run["tenant_id"])
    flow_run = {"id": run["id"], "is_test_event": True, "tenant_id": run["tenant_id"], "flow_id": run["flow_id"],
                "name": run["name"], "version": (run["version"] or 0) + 1, "state": serialized["type"],
                "serialized_state": serialized}
    return _event(flow_run, _flow_part(flow), _tenant_part(tenant), state, is_test_event=True)
