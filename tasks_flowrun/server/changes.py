"""Which flow runs changed, and waking whoever waits for them: the backend's pushed changes.

Write transactions note the flow runs whose state changed (or that got log lines); once the
transaction has committed, the notes are published here. A waiter (the `POST /watch`
endpoint, serving a parent's `wait_for_flow_run`) asks "did any of these runs change since
my token?" and is answered at once if so, else held until one does or its time is up,
without holding a thread: waiters are asyncio futures completed from the writing thread.

Tokens are `<epoch>:<sequence>:<wall-clock ms>`; the epoch is new with every server process.
A token of this process is exact (by sequence). A token of another process (another server
on the same PostgreSQL database, behind a load balancer; every process hears every change)
is compared by time: runs that changed since the token's time, less `CLOCK_MARGIN`, count as
changed (at worst a client re-reads once more). A token older than this process (a restart:
changes made while it was down are unknown) or malformed answers every run as changed.
"""
import asyncio
import threading
import time
import uuid
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Set, Tuple

STATE = "state"
LOGS = "logs"
MAX_REMEMBERED_RUNS = 100_000
CLOCK_MARGIN = 2.0  # seconds: clock skew and notification delay between server processes


Since = Tuple[Optional[int], Optional[float]]  # what a token says: a sequence, or a time


class _Waiter:
    def __init__(self, ids: Set[str], logs: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.ids = ids
        self.logs = logs
        self.loop = loop
        self.future: "asyncio.Future[None]" = loop.create_future()

    def wake(self) -> None:
        self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class ChangeFeed:
    """Sequence-numbered changes of flow runs, with waiters (thread-safe)."""

    def __init__(self, remember: int = MAX_REMEMBERED_RUNS) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._sequence = 0
        self._last: "OrderedDict[str, Tuple[int, int]]" = OrderedDict()  # run -> (state seq, log seq)
        self._times: Dict[str, Tuple[float, float]] = {}  # run -> (state change time, log time)
        self._oldest_forgotten = 0  # a run forgotten at this sequence may have changed up to it
        self._forgotten_at = 0.0  # ... and at this time
        self._started = time.time()
        self._remember = remember
        self._waiters: Set[_Waiter] = set()

    def token(self) -> str:
        with self._lock:
            return self._token()

    def _token(self) -> str:
        return f"{self.epoch}:{self._sequence}:{int(time.time() * 1000)}"

    def publish(self, changes: Iterable[Tuple[str, str]]) -> None:
        """Record committed changes, `(flow run id, STATE or LOGS)` pairs; wake their waiters."""
        woken: List[_Waiter] = []
        now = time.time()
        with self._lock:
            self._sequence += 1
            touched = set()
            for run_id, kind in changes:
                state_seq, log_seq = self._last.pop(run_id, (0, 0))
                self._last[run_id] = (self._sequence, log_seq) if kind == STATE else (state_seq, self._sequence)
                state_time, log_time = self._times.get(run_id, (0.0, 0.0))
                self._times[run_id] = (now, log_time) if kind == STATE else (state_time, now)
                touched.add((run_id, kind))
            while len(self._last) > self._remember:
                forgotten, _ = self._last.popitem(last=False)
                self._times.pop(forgotten, None)
                self._oldest_forgotten = self._sequence
                self._forgotten_at = now
            for waiter in self._waiters:
                if any(run_id in waiter.ids and (kind == STATE or waiter.logs) for run_id, kind in touched):
                    woken.append(waiter)
        for waiter in woken:
            waiter.wake()

    def _changed(self, ids: Iterable[str], since: "Since", logs: bool) -> List[str]:
        sequence, moment = since
        if sequence is not None and sequence >= self._oldest_forgotten:
            changed = []
            for run_id in ids:
                state_seq, log_seq = self._last.get(run_id, (0, 0))
                if state_seq > sequence or (logs and log_seq > sequence):
                    changed.append(run_id)
            return changed
        if moment is not None and moment >= max(self._started, self._forgotten_at):
            threshold = moment - CLOCK_MARGIN
            changed = []
            for run_id in ids:
                state_time, log_time = self._times.get(run_id, (0.0, 0.0))
                if state_time > threshold or (logs and log_time > threshold):
                    changed.append(run_id)
            return changed
        return list(ids)

    def _parse(self, token: Optional[str]) -> "Since":
        """(sequence, None) for a token of this process, (None, time) for another
        process's, (None, None) when nothing can be known from it."""
        parts = (token or "").split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            return None, None
        if parts[0] == self.epoch:
            return int(parts[1]), None
        return None, int(parts[2]) / 1000

    async def wait(self, ids: List[str], token: Optional[str], logs: bool, timeout: float) -> Tuple[List[str], str]:
        """
        The runs among `ids` that changed since `token` (every run for an unknown or missing
        token), as soon as there is one or `timeout` seconds have passed; and the new token.
        """
        since = self._parse(token)
        waiter: Optional[_Waiter] = None
        with self._lock:
            changed = self._changed(ids, since, logs)
            if not changed:
                waiter = _Waiter(set(ids), logs, asyncio.get_running_loop())
                self._waiters.add(waiter)
            else:
                return changed, self._token()
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        with self._lock:
            return self._changed(ids, since, logs), self._token()

    def waiting(self) -> int:
        """How many requests are held right now."""
        with self._lock:
            return len(self._waiters)
