"""Delivery of cloud hooks: the network side of `api/cloud_hooks.py`.

`CloudHookDelivery` runs in every server process (each delivers the state changes its own
requests committed): it takes flow runs from the process's outbox, finds their matching
hooks and calls each in a small pool (at most WORKERS at once, each on its own: a hook that
hangs delays no other; past MAX_PENDING calls waiting, new ones are dropped and logged).
`send_hook` makes one call now (`test_cloud_hook` reports its outcome).
"""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

import requests

from ..api.cloud_hooks import close_outbox, hooks_to_call, open_outbox
from ..api.messages import create_message
from ..storage.database import Database

logger = logging.getLogger("tasks_flowrun.server")

# Where Twilio and PagerDuty are reached (module attributes, so a test can aim them at a
# local server).
TWILIO_API = "https://api.twilio.com/2010-04-01"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# Prefect Server's seconds per request (its Slack calls get 1).
TIMEOUT = 2.0
SLACK_TIMEOUT = 1.0
WORKERS = 4
MAX_PENDING = 1000
DEFAULT_LINK_BASE = "http://localhost:4200"  # Prefect Server's default


class HookError(Exception):
    """A hook that could not be called (its message is `test_cloud_hook`'s error)."""


def _link(link_base: str, event: Dict[str, Any]) -> str:
    """The run's page, as Prefect's client prints it (`Client.get_cloud_url`)."""
    return f"{link_base.rstrip('/')}/{event['tenant']['slug']}/flow-run/{event['flow_run']['id']}"


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


def send_hook(db: Database, hook: Dict[str, Any], event: Dict[str, Any], link_base: str = DEFAULT_LINK_BASE) -> None:
    """Send `event` the way `hook` says, now; run links start with `link_base`. HookError
    (or ApiError) when that failed."""
    config = hook.get("config") or {}
    if hook["type"] == "WEBHOOK":
        _call_webhook(config, event)
    elif hook["type"] == "SLACK_WEBHOOK":
        _call_slack_webhook(config, event, _link(link_base, event))
    elif hook["type"] == "TWILIO":
        _call_twilio(config, event, _link(link_base, event))
    elif hook["type"] == "PAGERDUTY":
        _call_pagerduty(config, event, _link(link_base, event))
    elif hook["type"] == "PREFECT_MESSAGE":
        _call_prefect_message(db, event)
    else:
        raise HookError("Invalid type")


class CloudHookDelivery:
    """Calls the hooks of the state changes `db`'s writers queued in this process; run links
    start with `link_base` (Prefect's `server.ui.endpoint` when set, else the backend's own
    web page: `ServerSettings.link_base`)."""

    name = "cloud-hooks"

    def __init__(self, db: Database, link_base: str) -> None:
        self.db = db
        self.link_base = link_base
        self._pool: Optional[ThreadPoolExecutor] = None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._pending = 0
        self._pending_lock = threading.Lock()

    def start(self) -> None:
        self._outbox = open_outbox(self.db)
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="tasks-flowrun-hooks")
        self._thread = threading.Thread(target=self._loop, name="tasks-flowrun-cloud-hooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        close_outbox(self.db)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            run = self._outbox.take(timeout=1.0)
            if run is None:
                continue
            try:
                hooks, event = hooks_to_call(self.db, run)
            except Exception:
                logger.exception("A cloud hook call failed")
                continue
            for hook in hooks:  # each on its own: a hook that hangs delays no other
                self._submit(hook, event, run.get("id"))

    def _submit(self, hook: Dict[str, Any], event: Any, flow_run_id: Any) -> None:
        with self._pending_lock:
            if self._pending >= MAX_PENDING:
                logger.warning("A cloud hook call was dropped: %d calls are waiting already", self._pending)
                return
            self._pending += 1
        try:
            assert self._pool is not None
            self._pool.submit(self._call_one, hook, event, flow_run_id)
        except RuntimeError:  # shutting down
            with self._pending_lock:
                self._pending -= 1

    def _call_one(self, hook: Dict[str, Any], event: Dict[str, Any], flow_run_id: Any) -> None:
        try:
            send_hook(self.db, hook, event, self.link_base)
        except Exception as exc:
            logger.warning("Cloud hook %s (%s) failed for flow run %s: %s", hook["id"], hook["type"], flow_run_id,
                           exc)
        finally:
            with self._pending_lock:
                self._pending -= 1
