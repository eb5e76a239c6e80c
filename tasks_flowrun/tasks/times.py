"""Turn the accepted forms of `scheduled_start_time` and durations into UTC instants."""
import datetime
from typing import Optional, Union

import pendulum

StartTime = Union[datetime.datetime, datetime.timedelta, str]
DurationLike = Union[datetime.timedelta, int, float]


def parse_timestamp(text: str) -> pendulum.DateTime:
    """A timestamp as the backend returns it (ISO 8601 with an offset) as a pendulum DateTime."""
    parsed = pendulum.parse(text)
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"Expected a date and time from the backend, got {text!r}")
    return parsed


def resolve_start_time(
    value: Optional[StartTime], now: Optional[pendulum.DateTime] = None
) -> Optional[pendulum.DateTime]:
    """
    Resolve a `scheduled_start_time` argument to an aware UTC instant.

    Args:
        - value (datetime, pendulum.DateTime, str, timedelta or pendulum.Duration,
            optional): an absolute time (naive means UTC), an ISO-8601 string, or a
            non-negative delay counted from `now`; `None` means "as soon as possible"
        - now (pendulum.DateTime, optional): the reference instant for delays;
            defaults to the current time

    Returns:
        - pendulum.DateTime: the instant in UTC, or `None` if `value` is `None`

    Raises:
        - ValueError: for a negative delay or a string that is not an ISO-8601 time
        - TypeError: for any other type
    """
    if value is None:
        return None
    # pendulum.Duration is a timedelta subclass; check it before datetime (unrelated types)
    if isinstance(value, datetime.timedelta):
        if value < datetime.timedelta(0):
            raise ValueError(
                f"`scheduled_start_time` is a negative delay ({value}); pass a delay of "
                "zero or more, or an absolute datetime."
            )
        return (now or pendulum.now("UTC")).in_timezone("UTC") + value
    if isinstance(value, datetime.datetime):
        return _to_utc(value)
    if isinstance(value, str):
        return _parse_iso(value)
    raise TypeError(
        "`scheduled_start_time` must be a datetime, an ISO-8601 string, or a timedelta "
        f"(delay from now); got {type(value).__name__}."
    )


def _to_utc(value: datetime.datetime) -> pendulum.DateTime:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return pendulum.instance(value).in_timezone("UTC")


def _parse_iso(text: str) -> pendulum.DateTime:
    try:
        parsed = pendulum.parse(text.strip(), strict=True, exact=True)
    except (ValueError, TypeError) as exc:  # pendulum's ParserError is a ValueError
        raise ValueError(
            f"`scheduled_start_time` {text!r} is not an ISO-8601 date-time, e.g. "
            "'2030-01-31T12:00:00+00:00'."
        ) from exc
    if not isinstance(parsed, datetime.datetime):
        raise ValueError(
            f"`scheduled_start_time` {text!r} is not a date-time (it parsed as a "
            f"{type(parsed).__name__}); give a full date and time, e.g. '2030-01-31T12:00:00Z'."
        )
    # pendulum treats a string without offset as UTC, which is what we document
    return pendulum.instance(parsed).in_timezone("UTC")


def to_seconds(value: Optional[DurationLike], name: str, allow_none: bool = True) -> Optional[float]:
    """
    Convert a duration argument (timedelta or a number of seconds) to seconds.

    Args:
        - value (timedelta, int or float, optional): the duration
        - name (str): the argument's name, for error messages
        - allow_none (bool, optional): whether `None` is accepted (returned as `None`)

    Returns:
        - float: the duration in seconds

    Raises:
        - TypeError: for other types
        - ValueError: for a negative duration
    """
    if value is None and allow_none:
        return None
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"`{name}` must be a timedelta or a number of seconds; got {value!r}.")
    if seconds < 0:
        raise ValueError(f"`{name}` must not be negative; got {value!r}.")
    return seconds
