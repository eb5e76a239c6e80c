"""Waking the agent's loop the moment a flow run becomes due.

Prefect's agent loop looks for due runs, then sleeps on `AGENT_WAKE_EVENT` (Prefect's own
way to wake it, what its `/api/poke` endpoint sets) for up to 10 s when it found nothing.
Where the backend has the queue feed of `POST /watch` (the embedded one), this holds one
request `{"queue": true, "token": ..., "timeout": 60}` that the backend answers as soon as a
flow run becomes due, and wakes the loop then: an idle agent submits a new run within
milliseconds of its creation and costs one request a minute while nothing happens. Against
any other backend (the endpoint answers 400/404, or does not know the queue) it falls back
to waking the loop every `poll_interval`.
"""
import copy
import logging
import threading
import time
from typing import Any, Callable, Dict, Optional

import prefect
import requests

WATCH_PATH = "watch"
HOLD = 60.0  # seconds the backend may hold one request
HOLD_GRACE = 30.0  # seconds the HTTP timeout exceeds the hold
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)  # after failed requests (backend restarting...)
NO_PUSH_STATUSES = (400, 404, 405, 501)


class DuePickup:
    """
    Wakes the agent's loop when runs become due: pushed where the backend can, else polled.

    Args:
        - client (prefect.Client): a client of its own (used from this object's thread)
        - wake (callable): wakes the agent's loop (polls, planned wake-ups)
        - on_due (callable): the backend announced that a run became due (the agent wakes
            its loop if it has a free slot, else when one frees)
        - poll_interval (float): seconds between wake-ups when the backend cannot push
        - logger (logging.Logger): the agent's logger
    """

    def __init__(self, client: "prefect.Client", wake: Callable[[], None], on_due: Callable[[], None],
                 poll_interval: float, logger: logging.Logger) -> None:
        self.client = client
        self.wake = wake
        self.on_due = on_due
        self.poll_interval = poll_interval
        self.logger = logger
        self.pushing = False  # the last held request was answered as the queue feed
        self.supported: Optional[bool] = None  # unknown until the backend answered once
        self.token: Optional[str] = None
        self.answers = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._planned: Optional[float] = None  # monotonic time of the next planned wake-up

    def start(self) -> "DuePickup":
        threading.Thread(target=self._watch, name="due-runs-watch", daemon=True).start()
        threading.Thread(target=self._poll, name="due-runs-poll", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wake_in(self, seconds: float) -> None:
        """Wake the agent's loop in `seconds` (a run becomes due then), unless an earlier
        wake-up is planned already."""
        at = time.monotonic() + max(0.0, seconds)
        with self._lock:
            if self._planned is not None and self._planned <= at:
                return
            self._planned = at
        timer = threading.Timer(max(0.0, seconds), self._planned_wake, args=(at,))
        timer.daemon = True
        timer.start()

    def _planned_wake(self, at: float) -> None:
        with self._lock:
            if self._planned == at:
                self._planned = None
        self.wake()

    def _poll(self) -> None:
        # The fallback: the stock loop backs off up to 10 s and has no public setting for
        # it; waking it every `poll_interval` caps its idle wait.
        while not self._stop.wait(self.poll_interval):
            if not self.pushing:
                self.wake()

    def _watch(self) -> None:
        # A longer HTTP timeout than the hold, for this thread's context only (entered once:
        # entering a context with a config merges the whole configuration, milliseconds of CPU).
        config = copy.deepcopy(prefect.context.config)
        config.cloud.request_timeout = HOLD + HOLD_GRACE
        with prefect.context(config=config):
            self._watch_loop()

    def _watch_loop(self) -> None:
        failures = 0
        while not self._stop.is_set() and self.supported is not False:
            sent = self.token
            try:
                answer = self._hold()
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else None
                if status in NO_PUSH_STATUSES:
                    self._give_up(f"it answered {status}")
                    return
                answer = None
            except Exception as exc:  # the backend is away (restarting...): poll meanwhile
                self.logger.debug("Queue watch failed: %r", exc)
                answer = None
            if answer is None or answer.get("errors"):  # failed, or refused (e.g. a wrong API key)
                self.pushing = False
                self._stop.wait(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
                failures += 1
                continue
            if answer.get("queue") is not True or not isinstance(answer.get("token"), str):
                self._give_up("its /watch has no queue feed")
                return
            failures = 0
            self.supported = self.pushing = True
            self.answers += 1
            self.token = answer["token"]
            if self.token != sent:
                self.on_due()

    def _hold(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {"queue": True, "token": self.token, "timeout": HOLD}
        answer = self.client.post(WATCH_PATH, params=body)
        return answer if isinstance(answer, dict) else {}

    def _give_up(self, why: str) -> None:
        self.supported = self.pushing = False
        self.logger.info("The backend cannot push due flow runs (%s): looking for them every %g s",
                         why, self.poll_interval)
