"""Pushed changes: held requests that return as soon as a watched run changes.

The embedded backend serves `POST /watch` (a request held until one of the watched runs
changes, or for up to a minute), so a wait learns of a child's new state within
milliseconds, gets the changed runs' rows in the same answer (no second request), and
costs one request a minute while nothing happens. Other Prefect 1 backends have no such
endpoint: the first refusal marks the backend as one to poll, for the rest of the process.

A stream registers its runs once, in chunks of `CHUNK` ids (one request each), and then
holds by the handles the backend gave back, so that each answer costs work in proportion
to the runs that changed, not to the runs watched. A backend that no longer knows a handle
(restarted, or another server process behind a load balancer) says so, and the stream
registers that chunk again.

The stream keeps one HTTP connection open for its holds, with the client's address and
API key (`http.client`, a fifth of `requests`' cost per request; through `requests` when a
proxy is configured for the address): a held request is not a GraphQL request, and opening
a connection per hold would cost more than answering it.
"""
import http.client
import json
import threading
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import urljoin, urlsplit

import prefect
import requests

WATCH_PATH = "watch"
CHUNK = 10_000  # ids per registration request (the backend's limit per request)
MAX_HOLD = 60.0  # seconds the backend holds a request at most
HOLD_GRACE = 30.0  # seconds the HTTP timeout exceeds the hold
_cannot_push: Set[str] = set()  # API addresses without the endpoint
_lock = threading.Lock()


@dataclass
class WatchAnswer:
    """
    One answer of a held request.

    Args:
        - changed (List[str]): the runs that changed since the previous answer
        - runs (Dict[str, dict]): rows of (some of) those runs: id, name, version, state,
            serialized_state, state_timestamp, flow_id, labels, parameters, context,
            run_config, updated, `states` (history) and `logs` when asked
        - deleted (List[str]): watched runs that no longer exist
        - versions (Dict[str, int], optional): the version of every watched run, when the
            request asked for a check (`verify`) and nothing changed
    """

    changed: List[str] = field(default_factory=list)
    runs: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    deleted: List[str] = field(default_factory=list)
    versions: Optional[Dict[str, int]] = None


class ChangeStream:
    """
    Held requests for one wait.

    Args:
        - client (prefect.Client): the client (its address and API key)
        - logs (bool, optional): also return when the runs get new log lines, and carry
            them in the rows
        - history (bool, optional): rows carry each run's state history
    """

    def __init__(self, client: "prefect.Client", logs: bool = False, history: bool = True) -> None:
        self.client = client
        self.logs = logs
        self.history = history
        self.token: Optional[str] = None
        self.server = str(getattr(client, "api_server", None) or prefect.config.cloud.api)
        self.url = urljoin(self.server.rstrip("/") + "/", WATCH_PATH)
        self.requests = 0  # held requests and registrations sent
        self._chunks: List[List[str]] = []
        self._handles: List[Optional[str]] = []
        self._transport: Any = None

    @property
    def available(self) -> bool:
        with _lock:
            return self.server not in _cannot_push

    def start(self, flow_run_ids: List[str]) -> bool:
        """
        Register the runs to watch and take the token from which changes count.

        Args:
            - flow_run_ids (List[str]): distinct ids of the runs to watch

        Returns:
            - bool: `False` when the backend cannot push (poll instead)
        """
        self._chunks = [flow_run_ids[start:start + CHUNK] for start in range(0, len(flow_run_ids), CHUNK)]
        self._handles = [None] * len(self._chunks)
        return self.available and all(self._register(index) for index in range(len(self._chunks)))

    def _register(self, index: int) -> bool:
        answer = self._post({"flow_run_ids": self._chunks[index], "register": True, "timeout": 0}, 0.0)
        if answer is None or not isinstance(answer.get("set"), str):
            return False
        self._handles[index] = answer["set"]
        if self.token is None and isinstance(answer.get("token"), str):
            self.token = answer["token"]  # the first registration's: nothing changed before it is missed
        return True

    def wait(self, hold: float, verify: bool = False, logs_after: Optional[str] = None,
             logs_tail: Optional[int] = None) -> Optional[WatchAnswer]:
        """
        What changed among the registered runs since the previous answer, as soon as
        something does or after `hold` seconds.

        Args:
            - hold (float): seconds the backend may hold the request (at most 60)
            - verify (bool, optional): if nothing changed, carry every watched run's version
                (a check that notifications were not lost, at no extra request)
            - logs_after (str, optional): with `logs`, carry lines stored after this time
                (the backend's `created` time of a line seen earlier)
            - logs_tail (int, optional): with `logs` and no `logs_after`, carry each changed
                run's newest this many lines

        Returns:
            - WatchAnswer: the changes (`changed` empty when the time was up first); `None`
                when the backend cannot push (or the request failed): poll instead
        """
        if not self.available or not self._handles:
            return None
        timeout = max(0.0, min(hold, MAX_HOLD))
        body: Dict[str, Any] = {"token": self.token, "timeout": timeout, "logs": self.logs,
                                "history": self.history, "verify": verify}
        if self.logs and logs_after:
            body["logs_after"] = logs_after
        elif self.logs and logs_tail is not None:
            body["logs_tail"] = int(logs_tail)
        for _attempt in range(2):
            body["sets"] = self._handles
            answer = self._post(body, timeout)
            if answer is None:
                return None
            unknown = set(answer.get("unknown_sets") or [])
            if not unknown:
                break
            # the backend forgot them (restart, eviction, another process): register again
            for index, handle in enumerate(self._handles):
                if handle in unknown and not self._register(index):
                    return None
        else:
            return None  # forgotten again at once (e.g. processes that share nothing): poll
        if not isinstance(answer.get("token"), str):
            self.give_up()
            return None
        self.token = answer["token"]
        runs = {str(row["id"]): row for row in answer.get("runs") or [] if isinstance(row, dict) and "id" in row}
        versions = answer.get("versions")
        return WatchAnswer(changed=[str(i) for i in answer.get("changed") or []], runs=runs,
                           deleted=[str(i) for i in answer.get("deleted") or []],
                           versions=dict(versions) if isinstance(versions, dict) else None)

    def _post(self, body: Dict[str, Any], hold: float) -> Optional[Dict[str, Any]]:
        """One request; `None` (and, for a backend without the endpoint, `give_up`) on failure."""
        if self._transport is None:
            headers = {"Content-Type": "application/json", "X-PREFECT-CORE-VERSION": str(prefect.__version__)}
            api_key = getattr(self.client, "api_key", None)
            if api_key:
                headers["Authorization"] = f"Bearer {api_key}"
            self._transport = _transport(self.url, headers)
        self.requests += 1
        try:
            status, raw = self._transport.post(json.dumps(body).encode(), hold + HOLD_GRACE)
        except (OSError, http.client.HTTPException, requests.RequestException):  # transient: poll this time
            return None
        if status in (400, 404, 405, 501):  # no such endpoint here (or not this one)
            self.give_up()
            return None
        if status != 200:
            return None
        try:
            answer = json.loads(raw)
        except ValueError:
            self.give_up()
            return None
        if not isinstance(answer, dict):
            self.give_up()
            return None
        if answer.get("errors"):  # refused (e.g. a wrong API key): poll this time
            return None
        return answer

    def close(self) -> None:
        """Close the stream's connection."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None


    def give_up(self) -> None:
        """Treat this backend as one without pushed changes, for the rest of the process."""
        with _lock:
            _cannot_push.add(self.server)


class _Direct:
    """POSTs on one kept-alive `http.client` connection (opened again when the server closed it)."""

    def __init__(self, url: str, headers: Dict[str, str]) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.path = parts.path or "/"
        self.headers = headers
        self.conn: Optional[http.client.HTTPConnection] = None

    def post(self, body: bytes, timeout: float) -> Tuple[int, bytes]:
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self.conn = kind(self.host, self.port, timeout=timeout)
            else:
                self.conn.timeout = timeout
                if self.conn.sock is not None:
                    self.conn.sock.settimeout(timeout)
            try:
                self.conn.request("POST", self.path, body, self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused or attempt == 2:  # a kept-alive connection the server had closed: once more
                    raise
            except BaseException:
                self.close()
                raise
        raise http.client.HTTPException("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class _Proxied:
    """POSTs through `requests` (which applies the proxy settings of the environment)."""

    def __init__(self, url: str, headers: Dict[str, str]) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers.update(headers)

    def post(self, body: bytes, timeout: float) -> Tuple[int, bytes]:
        response = self.session.post(self.url, data=body, timeout=timeout)
        return response.status_code, response.content

    def close(self) -> None:
        self.session.close()


def _transport(url: str, headers: Dict[str, str]) -> Any:
    parts = urlsplit(url)
    proxied = parts.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(parts.hostname or "")
    return (_Proxied if proxied else _Direct)(url, headers)

def forget_capabilities() -> None:
    """Forget which backends could not push (tests, or a backend upgraded in place)."""
    with _lock:
        _cannot_push.clear()
