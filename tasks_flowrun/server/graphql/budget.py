"""A request's time budget: work stops once it is spent or once the client has gone.

Resolvers call `check()` at their boundaries; SQLite statements are interrupted through a
progress handler (storage.rows.interruptible) that asks `stopped()`. An interrupted write
transaction rolls back, so a stopped request leaves nothing half-written.
"""
import time
from typing import Callable, Optional

from .errors import UserError


class BudgetExceeded(UserError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "TIMEOUT")


class Budget:
    """The deadline (and cancellation) of one request.

    Args:
        - seconds (float): the work the request may take
        - last_stall (callable, optional): when (monotonic seconds) the server process last
            resumed after not running at all (SIGSTOP, a suspended machine); a request that
            was in flight then gets its whole budget again from that moment, since a
            suspension is no work of its own (else every request in flight across a
            suspension would fail)
    """

    def __init__(self, seconds: float, last_stall: Optional[Callable[[], Optional[float]]] = None) -> None:
        self.seconds = seconds
        self._started = time.monotonic()
        self._deadline = self._started + seconds
        self._cancelled: Optional[str] = None
        self._last_stall = last_stall
        self._spent_for_good = False  # once a statement was stopped for it, the budget stays spent

    def cancel(self, reason: str) -> None:
        self._cancelled = reason

    def _spent(self) -> bool:
        if self._spent_for_good:
            return True
        now = time.monotonic()
        if now <= self._deadline:
            return False
        stall = self._last_stall() if self._last_stall is not None else None
        if stall is not None and stall > self._started:
            self._started = stall
            self._deadline = stall + self.seconds
        self._spent_for_good = now > self._deadline
        return self._spent_for_good

    def stopped(self) -> bool:
        return self._cancelled is not None or self._spent()

    @property
    def reason(self) -> Optional[str]:
        if self._cancelled is not None:
            return self._cancelled
        if self._spent():
            return (f"Request stopped: it exceeded the server's time budget of {self.seconds:g} s per request; "
                    "nothing it was writing was kept. Ask for fewer rows (add `limit` or a narrower `where`).")
        return None

    def check(self) -> None:
        """Raise BudgetExceeded if the request must stop."""
        if self.stopped():
            raise BudgetExceeded(self.reason or "Request stopped.")


UNLIMITED = Budget(float("inf"))
