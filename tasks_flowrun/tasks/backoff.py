"""How long the waiter sleeps between two polls.

The trade-off (docs/architecture.md, "Waiting and back-off"): a child that finishes within ~10 s should be noticed within
0.5 s (median), while a long wait must cost at most 6 requests per minute. Pure
exponential growth cannot do both: starting at 0.5 s and growing by 1.5 per poll already
polls only every ~2.5 s after 5 s. So the schedule has two phases:

1. **Fast phase**: for `grace` seconds (default 10 s) after the last observed change, poll
   every `minimum` seconds (default 0.5 s): median detection delay ≈ minimum / 2.
2. **Backoff phase**: after that, each poll without change multiplies the interval by
   `factor` (1.5), up to `maximum` (default 10 s, i.e. 6 requests per minute).

Any change (a state change of any watched run) snaps the interval back to `minimum` and
restarts the fast phase. The interval never drops below `FLOOR` (0.5 s), which protects the
backend from a misconfigured parent: one request per poll covers all watched runs, so the
floor bounds the request rate of one waiting task at 2 per second.
"""
from typing import Optional

FLOOR = 0.5  # seconds; the smallest poll interval a user may configure
DEFAULT_MINIMUM = 0.5
DEFAULT_MAXIMUM = 10.0  # 6 requests / minute once grown
DEFAULT_FACTOR = 1.5
DEFAULT_GRACE = 10.0


class PollBackoff:
    """
    A poll-interval schedule that really grows while nothing changes.

    Args:
        - minimum (float, optional): interval in seconds right after a change; at least
            `FLOOR`
        - maximum (float, optional): the cap in seconds once grown; at least `minimum`
        - factor (float, optional): growth per unchanged poll in the backoff phase (> 1)
        - grace (float, optional): seconds after a change during which the interval
            stays at `minimum`
    """

    def __init__(
        self,
        minimum: float = DEFAULT_MINIMUM,
        maximum: float = DEFAULT_MAXIMUM,
        factor: float = DEFAULT_FACTOR,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        if minimum < FLOOR:
            raise ValueError(
                f"`poll_interval` must be at least {FLOOR} s to protect the backend; got {minimum}."
            )
        if maximum < minimum:
            raise ValueError(
                f"`max_poll_interval` ({maximum} s) must not be smaller than `poll_interval` ({minimum} s)."
            )
        if factor <= 1:
            raise ValueError(f"the backoff factor must be greater than 1; got {factor}.")
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self.factor = float(factor)
        self.grace = float(grace)
        self.interval = self.minimum
        self._last_change: Optional[float] = None

    def next_interval(self, changed: bool, now: float) -> float:
        """
        The sleep before the next poll, given whether the last poll saw a change.

        Args:
            - changed (bool): whether any watched run changed since the previous poll
            - now (float): the current `time.monotonic()` value

        Returns:
            - float: seconds to sleep
        """
        if changed or self._last_change is None:
            self._last_change = now
            self.interval = self.minimum
        elif now - self._last_change >= self.grace:
            self.interval = min(self.interval * self.factor, self.maximum)
        return self.interval
