"""A request's time budget: work stops once it is spent or once the client has gone.

Resolvers call `check()` at their boundaries; SQLite statements are interrupted through a
progress handler (storage.rows.interruptible) that asks `stopped()`. An interrupted write
transaction rolls back, so a stopped request leaves nothing half-written.
"""
import time
from typing import Optional

from .errors import UserError


class BudgetExceeded(UserError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "TIMEOUT")


class Budget:
    """The deadline (and cancellation) of one request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline = time.monotonic() + seconds
        self._cancelled: Optional[str] = None

    def cancel(self, reason: str) -> None:
        self._cancelled = reason

    def stopped(self) -> bool:
        return self._cancelled is not None or time.monotonic() > self._deadline

    @property
    def reason(self) -> Optional[str]:
        if self._cancelled is not None:
            return self._cancelled
        if time.monotonic() > self._deadline:
            return (f"Request stopped: it exceeded the server's time budget of {self.seconds:g} s per request; "
                    "nothing it was writing was kept. Ask for fewer rows (add `limit` or a narrower `where`).")
        return None

    def check(self) -> None:
        """Raise BudgetExceeded if the request must stop."""
        if self.stopped():
            raise BudgetExceeded(self.reason or "Request stopped.")


UNLIMITED = Budget(float("inf"))
