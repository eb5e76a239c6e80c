"""Which flow runs changed, and waking whoever waits for them: the backend's pushed changes.

Write transactions note the flow runs whose state changed, that got log lines, that were
deleted, or that became due for an agent (`note_change`); once the transaction has
committed, the notes are published here. Two kinds of waiters are served (the `POST /watch`
endpoint) without holding a thread (asyncio futures completed from the writing thread):

- a run waiter (a parent's `wait_for_flow_run`) asks "did any of these runs change since
  my token?" and is answered at once if so, else held until one does or its time is up;
- a queue waiter (an agent) asks "did a flow run become due since my token?".

Every change is appended to a bounded log in sequence order, so answering "what changed
since my token" walks only the changes made since, never the runs waited on: one
notification costs work in proportion to the runs that changed.

Tokens are `<epoch>:<sequence>:<wall-clock ms>`; the epoch is new with every server process.
A token of this process is exact (by sequence). A token of another process (another server
on the same PostgreSQL database, behind a load balancer; every process hears every change)
is compared by time: runs that changed since the token's time, less `CLOCK_MARGIN`, count as
changed (at worst a client re-reads once more). A token older than this process (a restart:
changes made while it was down are unknown), older than the log's memory, or malformed
answers every run as changed.
"""
import asyncio
import math
import threading
import time
import uuid
from collections import Counter, deque
from typing import Any, Collection, Deque, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

from .timestamps import to_datetime

STATE = "state"  # a flow run's state changed
LOGS = "logs"  # a flow run got log lines
DELETED = "deleted"  # a flow run was deleted
QUEUE = "queue"  # a flow run entered a queue state: due now, or at the time noted with it
MAX_REMEMBERED_CHANGES = 200_000  # entries of the change log
CLOCK_MARGIN = 2.0  # seconds: clock skew and notification delay between server processes

Since = Tuple[Optional[int], Optional[float]]  # what a token says: a sequence, or a time
Change = Tuple[Any, ...]  # (flow run id, kind) or (flow run id, QUEUE, due time as stored text)


class Entry(NamedTuple):
    sequence: int
    at: float  # wall clock (epoch seconds) of the publish
    run_id: str
    kind: str
    due: Optional[float]  # QUEUE only: when the run is due (epoch seconds)


class _Waiter:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: "asyncio.Future[None]" = loop.create_future()

    def wake(self) -> None:
        self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def rearm(self) -> None:
        if self.future.done():
            self.future = self.loop.create_future()


class _RunWaiter(_Waiter):
    def __init__(self, ids: Collection[str], logs: bool, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.ids = ids
        self.logs = logs

    def wants(self, run_id: str, kind: str) -> bool:
        return (kind != QUEUE and (kind != LOGS or self.logs)) and run_id in self.ids


class _QueueWaiter(_Waiter):
    def __init__(self, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.deadline = deadline  # wall clock: the time is up, or a noted run falls due
        self.due = False


def due_time(value: Any) -> Optional[float]:
    """A QUEUE note's due time (stored timestamp text, or epoch seconds) as epoch seconds."""
    if value is None or isinstance(value, (int, float)):
        return value
    moment = to_datetime(str(value))
    return moment.timestamp() if moment is not None else None


class ChangeFeed:
    """Sequence-numbered changes of flow runs, with waiters (thread-safe)."""

    def __init__(self, remember: int = MAX_REMEMBERED_CHANGES) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._sequence = 0
        self._log: Deque[Entry] = deque()
        self._forgotten_sequence = 0  # entries up to this sequence were dropped from the log
        self._forgotten_at = 0.0  # ... and up to this time
        self._started = time.time()
        self._remember = remember
        self._waiters: Set[_RunWaiter] = set()
        self._queue_waiters: Set[_QueueWaiter] = set()
        self._closed = False  # the server is stopping: nothing is held any more
        self.work: Counter = Counter()  # what answering cost: log entries walked, waiters checked

    # -- tokens -----------------------------------------------------------------------

    def token(self) -> str:
        with self._lock:
            return self._token()

    def _token(self) -> str:
        # the time rounded up: a run due by the moment of the answer is never "due since" it
        return f"{self.epoch}:{self._sequence}:{math.ceil(time.time() * 1000)}"

    def _parse(self, token: Optional[str]) -> "Since":
        """(sequence, None) for a token of this process, (None, time) for another
        process's, (None, None) when nothing can be known from it."""
        parts = (token or "").split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            return None, None
        if parts[0] == self.epoch:
            return int(parts[1]), None
        return None, int(parts[2]) / 1000

    def token_time(self, token: Optional[str]) -> Optional[float]:
        """The wall-clock time (epoch seconds) a token stands for, less the margin a token
        of another process gets; `None` for a missing or malformed token or one older than
        this process."""
        parts = (token or "").split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            return None
        moment = int(parts[2]) / 1000 - (0.0 if parts[0] == self.epoch else CLOCK_MARGIN)
        return moment if moment >= self._started else None

    # -- stopping -------------------------------------------------------------------------

    def close(self) -> None:
        """Answer every held request now, and every later one at once: a stopping server
        waits for its requests in flight, and a request held for up to a minute would keep
        it (and every client retrying against it) waiting that long."""
        with self._lock:
            self._closed = True
            held: List[_Waiter] = [*self._waiters, *self._queue_waiters]
        for waiter in held:
            waiter.wake()

    def reopen(self) -> None:
        """Hold requests again (the app started again after a stop)."""
        with self._lock:
            self._closed = False

    # -- publishing ---------------------------------------------------------------------

    def publish(self, changes: Iterable[Change]) -> None:
        """Record committed changes, `(flow run id, kind)` pairs (QUEUE notes may carry a due
        time as a third item); wake the waiters they concern."""
        woken: List[_Waiter] = []
        now = time.time()
        with self._lock:
            self._sequence += 1
            touched: List[Entry] = []
            for change in changes:
                run_id, kind = str(change[0]), str(change[1])
                due = due_time(change[2]) if kind == QUEUE and len(change) > 2 else None
                entry = Entry(self._sequence, now, run_id, kind, now if kind == QUEUE and due is None else due)
                self._log.append(entry)
                touched.append(entry)
            while len(self._log) > self._remember:
                dropped = self._log.popleft()
                self._forgotten_sequence, self._forgotten_at = dropped.sequence, dropped.at
            for waiter in self._waiters:
                self.work["waiter_checks"] += len(touched)
                if any(waiter.wants(entry.run_id, entry.kind) for entry in touched):
                    woken.append(waiter)
            dues = [entry.due for entry in touched if entry.kind == QUEUE and entry.due is not None]
            for queue_waiter in self._queue_waiters if dues else ():
                soonest = min(dues)
                if soonest <= now:
                    queue_waiter.due = True
                    woken.append(queue_waiter)
                elif soonest < queue_waiter.deadline:
                    queue_waiter.deadline = soonest  # held until then: it re-arms its timer
                    woken.append(queue_waiter)
        for woke in woken:
            woke.wake()

    # -- what changed since a token -------------------------------------------------------

    def _since(self, since: "Since") -> Optional[List[Entry]]:
        """The log entries made after what `since` stands for (newest first), or `None` when
        the log cannot tell (a token older than this process or the log's memory)."""
        sequence, moment = since
        entries: List[Entry] = []
        if sequence is not None:
            if sequence < self._forgotten_sequence:
                return None
            for entry in reversed(self._log):
                if entry.sequence <= sequence:
                    break
                entries.append(entry)
            self.work["log_entries"] += len(entries) + 1
            return entries
        if moment is None or moment < self._started:
            return None
        threshold = moment - CLOCK_MARGIN
        if threshold < self._forgotten_at:
            return None
        for entry in reversed(self._log):
            if entry.at <= threshold:
                break
            entries.append(entry)
        self.work["log_entries"] += len(entries) + 1
        return entries

    def _changed(self, ids: Collection[str], since: "Since", logs: bool) -> Tuple[List[str], bool]:
        """The runs among `ids` that changed since `since`, and whether that is every run
        (nothing could be told)."""
        entries = self._since(since)
        if entries is None:
            return list(ids), True
        changed = dict.fromkeys(entry.run_id for entry in reversed(entries)
                                if entry.kind != QUEUE and (logs or entry.kind != LOGS) and entry.run_id in ids)
        return list(changed), False

    # -- run waiters ------------------------------------------------------------------------

    async def wait(self, ids: Collection[str], token: Optional[str], logs: bool, timeout: float
                   ) -> Tuple[List[str], str, bool]:
        """
        The runs among `ids` that changed since `token` (every run for an unknown or missing
        token), as soon as there is one or `timeout` seconds have passed; the new token; and
        whether the answer is "every run" because nothing could be told from the token.

        `ids` must support fast membership tests (a set); it is kept, not copied.
        """
        since = self._parse(token)
        with self._lock:
            changed, everything = self._changed(ids, since, logs)
            if changed or self._closed:
                return changed, self._token(), everything
            waiter = _RunWaiter(ids, logs, asyncio.get_running_loop())
            self._waiters.add(waiter)
            mark = self._sequence  # changes up to here were looked at: none concerned `ids`
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        with self._lock:
            changed, everything = self._changed(ids, (mark, None), logs)
            return changed, self._token(), everything

    def waiting(self) -> int:
        """How many requests are held right now."""
        with self._lock:
            return len(self._waiters) + len(self._queue_waiters)

    # -- queue waiters ------------------------------------------------------------------------

    def _queue_due(self, since: "Since", now: float) -> Tuple[bool, Optional[float]]:
        """Whether a QUEUE note since `since` is due by `now` (True when the log cannot
        tell), and the soonest due time after `now` among those notes."""
        entries = self._since(since)
        if entries is None:
            return True, None
        later = [entry.due for entry in entries if entry.kind == QUEUE and entry.due is not None]
        if any(due <= now for due in later):
            return True, None
        return False, min(later, default=None)

    async def wait_queue(self, token: Optional[str], timeout: float, next_due: Optional[float] = None
                         ) -> Tuple[bool, str]:
        """
        Whether a flow run became due since `token` (at once if one did, or if nothing can be
        told from the token), else held until one does or `timeout` seconds have passed; and
        the new token.

        Args:
            - token (str, optional): the token of the previous answer
            - timeout (float): seconds to hold at most
            - next_due (float, optional): the soonest time (epoch seconds) a run already in a
                queue state falls due, read by the caller from the database: the waiter is
                answered then

        Returns:
            - Tuple[bool, str]: (a run became due, the new token)
        """
        since = self._parse(token)
        now = time.time()
        end = now + timeout
        with self._lock:
            due, soonest = self._queue_due(since, now) if token is not None else (True, None)
            if due or self._closed:
                return due, self._token()
            times = [moment for moment in (next_due, soonest) if moment is not None]
            waiter = _QueueWaiter(min([end, *times]), asyncio.get_running_loop())
            self._queue_waiters.add(waiter)
        try:
            while True:
                with self._lock:
                    waiter.rearm()
                    remaining = waiter.deadline - time.time()
                    if waiter.due or remaining <= 0 or self._closed:
                        break
                try:
                    await asyncio.wait_for(asyncio.shield(waiter.future), remaining)
                except asyncio.TimeoutError:
                    pass
        finally:
            with self._lock:
                self._queue_waiters.discard(waiter)
        with self._lock:
            return waiter.due or waiter.deadline < end, self._token()


def distinct(ids: Sequence[str]) -> List[str]:
    """`ids` without repeats, in their order."""
    return list(dict.fromkeys(ids))
