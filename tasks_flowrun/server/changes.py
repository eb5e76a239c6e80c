"""Which flow runs changed, and waking whoever waits for them: the backend's pushed changes.

Write transactions note the flow runs whose state changed (or that got log lines); once the
transaction has committed, the notes are published here. A waiter (the `POST /watch`
endpoint, serving a parent's `wait_for_flow_run`) asks "did any of these runs change since
my token?" and is answered at once if so, else held until one does or its time is up,
without holding a thread: waiters are asyncio futures completed from the writing thread.

Tokens are `<epoch>:<sequence>`; the epoch is new with every server process, so a token
from before a restart is answered at once with every run as changed (the client re-reads).
"""
import asyncio
import threading
import uuid
from collections import OrderedDict
from typing import Iterable, List, Optional, Set, Tuple

STATE = "state"
LOGS = "logs"
MAX_REMEMBERED_RUNS = 100_000


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
        self._oldest_forgotten = 0  # a run forgotten at this sequence may have changed up to it
        self._remember = remember
        self._waiters: Set[_Waiter] = set()

    def token(self) -> str:
        with self._lock:
            return f"{self.epoch}:{self._sequence}"

    def publish(self, changes: Iterable[Tuple[str, str]]) -> None:
        """Record committed changes, `(flow run id, STATE or LOGS)` pairs; wake their waiters."""
        woken: List[_Waiter] = []
        with self._lock:
            self._sequence += 1
            touched = set()
            for run_id, kind in changes:
                state_seq, log_seq = self._last.pop(run_id, (0, 0))
                self._last[run_id] = (self._sequence, log_seq) if kind == STATE else (state_seq, self._sequence)
                touched.add((run_id, kind))
            while len(self._last) > self._remember:
                self._last.popitem(last=False)
                self._oldest_forgotten = self._sequence
            for waiter in self._waiters:
                if any(run_id in waiter.ids and (kind == STATE or waiter.logs) for run_id, kind in touched):
                    woken.append(waiter)
        for waiter in woken:
            waiter.wake()

    def _changed(self, ids: Iterable[str], since: Optional[int], logs: bool) -> List[str]:
        if since is None or since < self._oldest_forgotten:
            return list(ids)
        changed = []
        for run_id in ids:
            state_seq, log_seq = self._last.get(run_id, (0, 0))
            if state_seq > since or (logs and log_seq > since):
                changed.append(run_id)
        return changed

    def _parse(self, token: Optional[str]) -> Optional[int]:
        epoch, _, sequence = (token or "").partition(":")
        if epoch != self.epoch or not sequence.isdigit():
            return None
        return int(sequence)

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
                return changed, f"{self.epoch}:{self._sequence}"
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        with self._lock:
            return self._changed(ids, since, logs), f"{self.epoch}:{self._sequence}"

    def waiting(self) -> int:
        """How many requests are held right now."""
        with self._lock:
            return len(self._waiters)
