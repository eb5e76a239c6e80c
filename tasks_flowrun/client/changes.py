"""Pushed changes: held requests that return as soon as a watched run changes.

The embedded backend serves `POST /watch` (a request held until one of the given runs
changes, or for up to a minute), so a wait learns of a child's new state within
milliseconds and costs one request a minute while nothing happens. Other Prefect 1
backends have no such endpoint: the first refusal marks the backend as one to poll, for
the rest of the process.
"""
import copy
import threading
from typing import Any, Dict, List, Optional, Set

import prefect
import requests

WATCH_PATH = "watch"
HOLD_GRACE = 30.0  # seconds the HTTP timeout exceeds the hold
_cannot_push: Set[str] = set()  # API addresses without the endpoint
_lock = threading.Lock()


class ChangeStream:
    """
    Held requests for one wait.

    Args:
        - client (prefect.Client): the client (its address, credentials and tenant)
        - logs (bool): also return when the runs get new log lines
    """

    def __init__(self, client: "prefect.Client", logs: bool = False) -> None:
        self.client = client
        self.logs = logs
        self.token: Optional[str] = None
        self.server = str(getattr(client, "api_server", None) or prefect.config.cloud.api)

    @property
    def available(self) -> bool:
        with _lock:
            return self.server not in _cannot_push

    def wait(self, flow_run_ids: List[str], hold: float) -> Optional[List[str]]:
        """
        The runs among `flow_run_ids` that changed since the previous call (all of them on
        the first call), as soon as one does or after `hold` seconds (then `[]`).

        Args:
            - flow_run_ids (List[str]): the runs to watch
            - hold (float): seconds the backend may hold the request (at most 60)

        Returns:
            - List[str]: the changed runs; `None` when the backend cannot push (or the
                request failed): poll instead
        """
        if not self.available:
            return None
        timeout = max(0.0, min(hold, 60.0))
        body: Dict[str, Any] = {"flow_run_ids": list(flow_run_ids), "token": self.token, "logs": self.logs,
                                "timeout": timeout}
        config = copy.deepcopy(prefect.context.config)  # a longer HTTP timeout, for this thread only
        config.cloud.request_timeout = timeout + HOLD_GRACE
        try:
            with prefect.context(config=config):
                answer: Any = self.client.post(WATCH_PATH, params=body)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (400, 404, 405, 501):  # no such endpoint here (or not this one)
                self.give_up()
            return None
        except Exception:  # a transient failure: poll this time
            return None
        if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
            self.give_up()
            return None
        self.token = answer["token"]
        return [str(run_id) for run_id in answer.get("changed") or []]

    def give_up(self) -> None:
        """Treat this backend as one without pushed changes, for the rest of the process."""
        with _lock:
            _cannot_push.add(self.server)


def forget_capabilities() -> None:
    """Forget which backends could not push (tests, or a backend upgraded in place)."""
    with _lock:
        _cannot_push.clear()


