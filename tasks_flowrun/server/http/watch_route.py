"""`POST /watch`: a held request answered as soon as one of some flow runs changes, or (for
agents) as soon as a flow run becomes due. A waiting request holds no thread.

Run watch, body (a JSON object):

| field | meaning |
| --- | --- |
| `flow_run_ids` | runs to watch (at most `MAX_IDS` per request) |
| `sets` | handles of id sets registered earlier (`register`), watched with `flow_run_ids` |
| `register` | register `flow_run_ids` as a set: answered at once with `{"set": handle, "token"}` |
| `token` | the token of the previous answer; `null` = every run counts as changed |
| `timeout` | seconds to hold at most (0 to 60, default 60) |
| `logs` | also answer when a run gets log lines (default false) |
| `rows` | carry the changed runs' rows (default true) |
| `history` | rows carry each run's state history, `states` (default false) |
| `logs_after` / `logs_tail` | with `logs`, rows carry `logs`: lines stored (server time, `created`) after `logs_after`, or without it each run's newest `logs_tail` (default 1000) |
| `verify` | on a timeout with nothing changed, carry `versions` of every watched run (a periodic check that costs no extra request) |

Answer: `{"changed": [ids], "token": "..."}`, at once when a run changed since the token,
else when one does, or after `timeout` with `changed: []`; plus `runs` (rows of up to
`MAX_ROWS` changed runs: id, name, version, state, serialized_state, state_timestamp,
flow_id, labels, parameters, context, run_config, updated, and `states` / `logs` when asked),
`deleted` (watched runs that no longer exist), `versions` (with `verify`), and
`unknown_sets` (handles this process does not know, answered at once: register again).

Working through handles, a held request costs work in proportion to the runs that changed
(the feed's log since the token, the rows of those runs), not to the runs watched: a client
waiting on many runs registers them once (in chunks of `MAX_IDS`) and then holds by handle.

Queue watch (agents' pushed pick-up): `{"queue": true, "token": ..., "timeout": ...}` is
answered `{"queue": true, "due": true, "token"}` as soon as a flow run becomes due (created
due now, put back in a queue state, or its scheduled start time arriving), `due: false`
when its time is up first.
"""
import datetime as dt
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Collection, Dict, Iterator, List, Optional

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..api.states import QUEUE_STATES
from ..change_feed import ChangeFeed
from ..metrics import Observed
from ..storage import watched
from ..storage.database import Database
from ..timestamps import TimestampError, to_datetime, to_utc_text
from .guard import Handler
from .request_stats import RequestStats

MAX_HOLD = 60.0  # seconds
MAX_IDS = 10_000  # ids per request (clients chunk)
MAX_SETS = 1_000  # handles per request
MAX_ROWS = 1_000  # rows per answer; a client reads the other changed runs itself
INLINE_ROWS = 8  # on SQLite, rows read on the event loop itself (a WAL read never waits for a writer)
MAX_TAIL = 10_000
MAX_BODY = 1024 * 1024  # bytes of a request body (the guard reads it)
MAX_WAITERS = 5_000  # held requests at once; past it, new ones are answered at once
MAX_SET_IDS = 1_000_000  # ids kept in registered sets (least recently used sets are dropped)


def _refuse(message: str, status: int = 400) -> Response:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]},
                        status_code=status)


class IdSets:
    """Registered id sets by handle (a digest of the ids), least recently used dropped
    past `limit` ids in all. Thread-safe enough for one event loop (no awaits inside)."""

    def __init__(self, limit: int = MAX_SET_IDS) -> None:
        self.limit = limit
        self._sets: "OrderedDict[str, Dict[str, None]]" = OrderedDict()
        self._size = 0

    def add(self, ids: List[str]) -> str:
        handle = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        if handle in self._sets:
            self._sets.move_to_end(handle)
            return handle
        self._sets[handle] = dict.fromkeys(ids)
        self._size += len(ids)
        while self._size > self.limit and len(self._sets) > 1:
            _, dropped = self._sets.popitem(last=False)
            self._size -= len(dropped)
        return handle

    def clear(self) -> None:
        """Forget every set (clients register theirs again when told)."""
        self._sets.clear()
        self._size = 0

    def get(self, handle: str) -> Optional[Dict[str, None]]:
        found = self._sets.get(handle)
        if found is not None:
            self._sets.move_to_end(handle)
        return found


class IdUnion(Collection[str]):
    """Several id collections seen as one (membership and iteration), without copying."""

    def __init__(self, parts: List[Collection[str]]) -> None:
        self.parts = parts

    def __contains__(self, item: object) -> bool:
        return any(item in part for part in self.parts)

    def __iter__(self) -> Iterator[str]:
        seen: set = set()
        for part in self.parts:
            for item in part:
                if item not in seen:
                    seen.add(item)
                    yield item

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class WatchQuery:
    ids: List[str] = field(default_factory=list)
    sets: List[str] = field(default_factory=list)
    register: bool = False
    queue: bool = False
    token: Optional[str] = None
    timeout: float = MAX_HOLD
    logs: bool = False
    rows: bool = True
    history: bool = False
    logs_after: Optional[str] = None
    logs_tail: int = 1000
    verify: bool = False


def _flag(body: Dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"'{name}' must be true or false")
    return value


def parse_query(raw: bytes) -> WatchQuery:
    """The watch request in `raw`, or ValueError saying what is wrong."""
    body = json.loads(raw or b"{}")
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    query = WatchQuery(queue=_flag(body, "queue", False), register=_flag(body, "register", False))
    token = body.get("token")
    if token is not None and not isinstance(token, str):
        raise ValueError("'token' must be the string of a previous answer, or null")
    query.token = token
    timeout = body.get("timeout", MAX_HOLD)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= MAX_HOLD:
        raise ValueError(f"'timeout' must be a number of seconds from 0 to {MAX_HOLD:g}")
    query.timeout = float(timeout)
    if query.queue:
        return query
    ids = body.get("flow_run_ids", [])
    sets = body.get("sets", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("'flow_run_ids' must be a non-empty list of flow run ids (or give 'sets')")
    if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets) or len(sets) > MAX_SETS:
        raise ValueError(f"'sets' must be a list of at most {MAX_SETS:,} handles of registered id sets")
    if not ids and not sets:
        raise ValueError("'flow_run_ids' must be a non-empty list of flow run ids (or give 'sets')")
    if len(ids) > MAX_IDS:
        raise ValueError(f"at most {MAX_IDS:,} flow run ids per request: register larger sets in chunks "
                         "('register': true) and watch their handles ('sets')")
    query.ids, query.sets = list(dict.fromkeys(ids)), list(dict.fromkeys(sets))
    query.logs = _flag(body, "logs", False)
    query.rows = _flag(body, "rows", True)
    query.history = _flag(body, "history", False)
    query.verify = _flag(body, "verify", False)
    after = body.get("logs_after")
    if after is not None:
        try:
            query.logs_after = to_utc_text(after)
        except TimestampError as exc:
            raise ValueError(f"'logs_after': {exc}") from None
    tail = body.get("logs_tail", query.logs_tail)
    if isinstance(tail, bool) or not isinstance(tail, int) or not 0 <= tail <= MAX_TAIL:
        raise ValueError(f"'logs_tail' must be a whole number from 0 to {MAX_TAIL:,}")
    query.logs_tail = tail
    return query


class WatchCounters:
    """What answering watches cost (exposed under `watch` in `GET /stats`)."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed
        self.answers = 0
        self.runs_answered = 0  # changed runs listed in answers
        self.rows_read = 0  # database rows read for answers (runs, states, logs, versions)
        self.ids_received = 0  # ids sent inline (parsed) in requests
        self.busy_seconds = 0.0  # time spent on requests outside their hold

    def snapshot(self) -> Dict[str, Any]:
        return {"answers": self.answers, "runs_answered": self.runs_answered, "rows_read": self.rows_read,
                "ids_received": self.ids_received, "busy_seconds": round(self.busy_seconds, 6),
                "feed_log_entries": self.feed.work["log_entries"], "feed_waiter_checks": self.feed.work["waiter_checks"]}


def _read_rows(db: Database, ids: List[str], query: WatchQuery) -> Dict[str, Any]:
    """The rows of `ids` (those that exist), with history and logs as asked."""
    with db.read() as conn:
        runs = watched.run_rows(conn, ids)
        found = list(runs)
        histories = watched.state_histories(conn, found) if query.history and found else {}
        logs = watched.run_logs(conn, found, query.logs_after, query.logs_tail) if query.logs and found else {}
    out = []
    read = len(runs)
    for run_id in ids:
        row = runs.get(run_id)
        if row is None:
            continue
        if query.history:
            row["states"] = histories.get(run_id, [])
            read += len(row["states"])
        if query.logs:
            row["logs"] = logs.get(run_id, [])
            read += len(row["logs"])
        out.append(row)
    return {"runs": out, "deleted": [run_id for run_id in ids if run_id not in runs], "read": read}


def _read_versions(db: Database, ids: List[str]) -> Dict[str, int]:
    with db.read() as conn:
        return watched.run_versions(conn, ids)


def _queue_times(db: Database, since: float, now: float) -> Dict[str, Any]:
    """Whether a run in a queue state fell due in (since, now], and the soonest one after."""
    after, until = _text(since), _text(now)
    with db.read() as conn:
        due = watched.due_between(conn, QUEUE_STATES, after, until)
        soonest = None if due else watched.next_due(conn, QUEUE_STATES, until)
    return {"due": due, "next": soonest}


def _text(moment: float) -> str:
    return to_utc_text(dt.datetime.fromtimestamp(moment, dt.timezone.utc))


def _epoch(text: Optional[str]) -> Optional[float]:
    moment = to_datetime(text)
    return moment.timestamp() if moment is not None else None


def watch_route(db: Database, stats: RequestStats) -> Handler:
    """The `POST /watch` handler over `db`'s change feed (behind the guard, which read the
    body); `stats` counts its requests. The handler's `counters` say what answers cost."""
    feed = db.changes
    sets = IdSets()
    counters = WatchCounters(feed)

    async def _queue_watch(query: WatchQuery, busy: float) -> Response:
        since = feed.token_time(query.token)
        due, next_due = True, None
        if since is not None:
            times = await run_in_threadpool(_queue_times, db, since, time.time())
            due = times["due"]
            next_due = _epoch(times["next"])
        counters.busy_seconds += time.perf_counter() - busy
        if due:
            token = feed.token()
        else:
            due, token = await feed.wait_queue(query.token, _hold(query), next_due)
        counters.answers += 1
        return JSONResponse({"queue": True, "due": due, "token": token})

    def _hold(query: WatchQuery) -> float:
        return query.timeout if feed.waiting() < MAX_WAITERS else 0.0

    async def watch(request: Request, _seen: Observed) -> Response:
        stats.record(["watch"])
        busy = time.perf_counter()
        try:
            query = parse_query(request.state.body)
        except ValueError as exc:  # json errors included
            return _refuse(f"Malformed watch request: {exc}.")
        if query.queue:
            return await _queue_watch(query, busy)
        counters.ids_received += len(query.ids)
        if query.register:
            if not query.ids:
                return _refuse("Malformed watch request: 'register' needs 'flow_run_ids'.")
            return JSONResponse({"set": sets.add(query.ids), "token": feed.token()})
        parts: List[Collection[str]] = [dict.fromkeys(query.ids)] if query.ids else []
        unknown = []
        for handle in query.sets:
            found = sets.get(handle)
            if found is None:
                unknown.append(handle)
            else:
                parts.append(found)
        if unknown:
            return JSONResponse({"changed": [], "unknown_sets": unknown, "token": query.token or feed.token()})
        ids: Collection[str] = parts[0] if len(parts) == 1 else IdUnion(parts)
        counters.busy_seconds += time.perf_counter() - busy
        changed, token, _everything = await feed.wait(ids, query.token, query.logs, _hold(query))
        busy = time.perf_counter()
        answer: Dict[str, Any] = {"changed": changed, "token": token}
        if changed and query.rows:
            wanted = changed[:MAX_ROWS]
            if db.store == "sqlite" and len(wanted) <= INLINE_ROWS:
                read = _read_rows(db, wanted, query)  # a few rows of a local file: sooner than a thread hop
            else:
                read = await run_in_threadpool(_read_rows, db, wanted, query)
            answer["runs"], answer["deleted"] = read["runs"], read["deleted"]
            counters.rows_read += read["read"]
        elif not changed and query.verify:
            every = list(ids)
            versions = await run_in_threadpool(_read_versions, db, every)
            answer["versions"] = versions
            answer["deleted"] = [run_id for run_id in every if run_id not in versions]
            counters.rows_read += len(versions)
        counters.answers += 1
        counters.runs_answered += len(changed)
        counters.busy_seconds += time.perf_counter() - busy
        return JSONResponse(answer)

    watch.counters = counters  # type: ignore[attr-defined]
    watch.sets = sets  # type: ignore[attr-defined]
    return watch
