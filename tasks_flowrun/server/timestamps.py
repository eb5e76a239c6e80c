"""One representation of instants for the whole backend.

Every timestamp is stored and compared as text in a fixed UTC form with microseconds,
`2026-11-25T02:29:54.065676+00:00`, so that SQLite's text comparison orders instants
correctly. Inputs may carry any offset or none; naive means UTC.
"""
import datetime as dt
import threading
from typing import Any, Optional

import pendulum

_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


class TimestampError(ValueError):
    """A value that is not a readable timestamp."""


def to_utc_text(value: Any) -> str:
    """Normalise a datetime or an ISO-8601 string (any offset, or naive = UTC) to the stored form."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = pendulum.parse(value, tz="UTC", strict=False)  # type: ignore[assignment]
        except Exception:
            raise TimestampError(
                f"Invalid timestamp {value!r}: expected ISO 8601, e.g. '2026-11-25T02:29:54+00:00'."
            ) from None
        if not isinstance(moment, dt.datetime):
            raise TimestampError(f"Invalid timestamp {value!r}: a date and a time are required.")
    else:
        raise TimestampError(f"Invalid timestamp {value!r}: expected an ISO 8601 string.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).strftime(_FORMAT)


def to_datetime(text: Optional[str]) -> Optional[dt.datetime]:
    """The stored form back to an aware datetime."""
    if text is None:
        return None
    return dt.datetime.strptime(text, _FORMAT).replace(tzinfo=dt.timezone.utc)


class MonotonicClock:
    """UTC `now()` that never repeats or goes back, so state histories order strictly."""

    def __init__(self) -> None:
        self._last = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            moment = dt.datetime.now(dt.timezone.utc)
            if moment <= self._last:
                moment = self._last + dt.timedelta(microseconds=1)
            self._last = moment
            return moment

    def now_text(self) -> str:
        return self.now().strftime(_FORMAT)


clock = MonotonicClock()
