"""Cloud hooks: notifications of flow run state changes, as on Prefect Server.

A hook names the states it answers (upper case), optionally one flow version group, and
where to send the news: a webhook (the event as JSON), a Slack webhook, a Prefect message
(a `message` row, the UI's notifications), Twilio text messages or a PagerDuty event.

Calls happen after the state change has committed, in a few background threads with short
HTTP timeouts (`call_hooks_after_commit`): a slow or failing hook never slows or fails the
state change, and a state change that rolls back calls nothing. `test_cloud_hook` sends a
sample event at once and reports the outcome.
"""
import logging
import threading
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

import requests
from prefect.engine import state as prefect_states
from sqlalchemy.engine import Connection

from ..storage.database import Database, after_commit
from ..storage.rows import delete_rows, fetch_row, fetch_rows
from .errors import ApiError, NotFound
from .messages import create_message
from .names import generate_run_name
from .records import insert, update

logger = logging.getLogger("tasks_flowrun.server")

HOOK_TYPES = ("WEBHOOK", "SLACK_WEBHOOK", "PREFECT_MESSAGE", "TWILIO", "PAGERDUTY")
ALL_STATES = frozenset(cls.__name__.upper() for cls in prefect_states.State.children())
TWILIO_KEYS = {"account_sid", "auth_token", "messaging_service_sid", "to"}
PAGERDUTY_KEYS = {"api_token", "routing_key", "severity"}
PAGERDUTY_SEVERITIES = ("info", "warning", "error", "critical")
# Where Twilio and PagerDuty are reached (module attributes, so a test can aim them at a
# local server).
TWILIO_API = "https://api.twilio.com/2010-04-01"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# Prefect Server's seconds per request (its Slack calls get 1).
TIMEOUT = 2.0
SLACK_TIMEOUT = 1.0
# Background calls: at most WORKERS at once; past MAX_PENDING waiting, new ones are dropped
# (and logged) rather than piling up behind a hook that hangs.
WORKERS = 4
MAX_PENDING = 1000
TEST_STATES = {"SCHEDULED": prefect_states.Scheduled, "SUBMITTED": prefect_states.Submitted,
               "RUNNING": prefect_states.Running, "SUCCESS": prefect_states.Success,
               "FAILED": prefect_states.Failed}


class HookError(Exception):
    """A hook that could not be called (its message is `test_cloud_hook`'s error)."""


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


DEFAULT_LINK_BASE = "http://localhost:4200"  # for a database no app set one for (Prefect Server's default)
_link_bases: "weakref.WeakKeyDictionary[Database, str]" = weakref.WeakKeyDictionary()


def set_link_base(db: Database, url: str) -> None:
    """Where run links in the hook messages of `db`'s backend point: Prefect's
    `server.ui.endpoint` when set, else the backend's own web page (`ServerSettings.link_base`);
    its app sets it at start (per database: several backends may share a process)."""
    _link_bases[db] = url.rstrip("/")


def _link(db: Database, event: Dict[str, Any]) -> str:
    """The run's page, as Prefect's client prints it (`Client.get_cloud_url`)."""
    base = _link_bases.get(db, DEFAULT_LINK_BASE)
    return f"{base}/{event['tenant']['slug']}/flow-run/{event['flow_run']['id']}"


# -- calls ------------------------------------------------------------------------------


def _post(url: str, timeout: float, **kwargs: Any) -> None:
    if urlsplit(str(url)).scheme not in ("http", "https"):
        raise HookError("Request URL is missing an 'http://' or 'https://' protocol.")
    try:
        requests.post(url, timeout=timeout, **kwargs)  # as on Server, the answer is not judged
    except requests.RequestException as exc:
        raise HookError(f"{type(exc).__name__}: {exc}") from None


def _call_webhook(config: Dict[str, Any], event: Dict[str, Any]) -> None:
    _post(config["url"], TIMEOUT, json={"event": event}, headers={"X-PREFECT-EVENT-ID": event["id"]})


def _call_slack_webhook(config: Dict[str, Any], event: Dict[str, Any], link: str) -> None:
    state = event["state"]
    lines = [f"Run `{event['flow_run']['name']}` of flow `{event['flow']['name']}` entered a new state:",
             f"*State:* `{state['state']}`",
             f"*Message:* {(state.get('serialized_state') or {}).get('message')}",
             f"*Link:* {link}"]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": line}} for line in lines]
    _post(config["url"], SLACK_TIMEOUT, json={"blocks": blocks})


def _call_twilio(config: Dict[str, Any], event: Dict[str, Any], link: str) -> None:
    body = (f"Run {event['flow_run']['name']} of flow {event['flow']['name']} entered a new state: "
            f"{event['state']['state']}. \n Link: {link}")
    sid = config["account_sid"]
    for number in config["to"]:
        _post(f"{TWILIO_API}/Accounts/{sid}/Messages.json", TIMEOUT, auth=(sid, config["auth_token"]),
              data={"To": number, "From": config["messaging_service_sid"], "Body": body})


def _call_pagerduty(config: Dict[str, Any], event: Dict[str, Any], link: str) -> None:
    slug, state = event["tenant"]["slug"], event["state"]["state"]
    run_name, flow_name = event["flow_run"]["name"], event["flow"]["name"]
    details = {"flow": flow_name, "flow_run": run_name, "state": state,
               "state_message": (event["state"].get("serialized_state") or {}).get("message") or "",
               "tenant_slug": slug}
    payload = {"summary": f"Run {run_name} entered a new state: {state}", "severity": config["severity"],
               "source": f"cloud.prefect.io/{slug}", "component": flow_name, "group": run_name,
               "class": f"State->{state}", "custom_details": details}
    message = {"routing_key": config["routing_key"], "event_action": "trigger", "payload": payload,
               "links": [{"href": link, "text": f"Flow Run {run_name}"}]}
    _post(PAGERDUTY_EVENTS_URL, TIMEOUT, json=message, headers={"Authorization": f"Token token={config['api_token']}"})


def _call_prefect_message(db: Database, event: Dict[str, Any]) -> None:
    with db.write() as conn:
        create_message(conn, event["tenant"]["id"], "CLOUD_HOOK", {"event": event, "type": "CLOUD_HOOK"})


def call_hook(db: Database, hook: Dict[str, Any], event: Dict[str, Any]) -> None:
    """Send `event` the way `hook` says; HookError (or ApiError) when that failed."""
    config = hook.get("config") or {}
    if hook["type"] == "WEBHOOK":
        _call_webhook(config, event)
    elif hook["type"] == "SLACK_WEBHOOK":
        _call_slack_webhook(config, event, _link(db, event))
    elif hook["type"] == "TWILIO":
        _call_twilio(config, event, _link(db, event))
    elif hook["type"] == "PAGERDUTY":
        _call_pagerduty(config, event, _link(db, event))
    elif hook["type"] == "PREFECT_MESSAGE":
        _call_prefect_message(db, event)
    else:
        raise HookError("Invalid type")


# -- after a state change ---------------------------------------------------------------

_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="tasks-flowrun-hooks")
_pending = 0
_pending_lock = threading.Lock()


def call_hooks_after_commit(conn: Connection, run: Dict[str, Any]) -> None:
    """Once this transaction commits, call the hooks matching `run`'s new state (in the
    background: the state change never waits for them)."""
    snapshot = dict(run)
    after_commit(conn, lambda db: _in_background(_call_matching_hooks, db, snapshot))


def _in_background(fn: Any, *args: Any) -> None:
    """Run `fn(*args)` in the pool, unless MAX_PENDING calls are waiting already."""
    global _pending
    with _pending_lock:
        if _pending >= MAX_PENDING:
            logger.warning("A cloud hook call was dropped: %d calls are waiting already", _pending)
            return
        _pending += 1

    def run() -> None:
        global _pending
        try:
            fn(*args)
        except Exception:
            logger.exception("A cloud hook call failed")
        finally:
            with _pending_lock:
                _pending -= 1

    try:
        _pool.submit(run)
    except RuntimeError:  # the interpreter is shutting down
        with _pending_lock:
            _pending -= 1


def _call_matching_hooks(db: Database, run: Dict[str, Any]) -> None:
    with db.read() as conn:
        # most backends have no hook: one look at the (small) hook table, nothing more
        if not fetch_rows(conn, "cloud_hook", ("id",), limit=1, tenant_id=str(run["tenant_id"]), active=True):
            return
        flow = fetch_row(conn, "flow", id=run["flow_id"])
        hooks = matching_hooks(conn, run["tenant_id"], (flow or {}).get("version_group_id"), run["state"] or "")
        if not hooks:
            return
        tenant = fetch_row(conn, "tenant", id=run["tenant_id"])
    event = state_change_event(run, flow, tenant)
    for hook in hooks:  # each on its own: a hook that hangs delays no other
        _in_background(_call_one, db, hook, event, run.get("id"))


def _call_one(db: Database, hook: Dict[str, Any], event: Dict[str, Any], flow_run_id: Any) -> None:
    try:
        call_hook(db, hook, event)
    except Exception as exc:
        logger.warning("Cloud hook %s (%s) failed for flow run %s: %s", hook["id"], hook["type"], flow_run_id, exc)


# -- test_cloud_hook --------------------------------------------------------------------


def test_cloud_hook(db: Database, cloud_hook_id: str, flow_run_id: Optional[str] = None,
                    state_type: Optional[str] = None) -> None:
    """Send a sample event to a hook now (whatever its states): about `flow_run_id` if given
    (its next version in the sample state), else about a made-up run of a made-up flow. The
    state is Success unless `state_type` names another. Raises when the call failed."""
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
    call_hook(db, hook, event)


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
