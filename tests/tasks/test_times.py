"""scheduled_start_time and duration parsing."""
import datetime

import pendulum
import pytest

from tasks_flowrun.tasks.times import resolve_start_time, to_seconds

NOW = pendulum.datetime(2030, 1, 1, 12, 0, 0, tz="UTC")


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        (datetime.timedelta(seconds=5), NOW.add(seconds=5)),
        (pendulum.duration(minutes=2), NOW.add(minutes=2)),
        (datetime.timedelta(0), NOW),
        (datetime.datetime(2030, 5, 1, 8, 30), pendulum.datetime(2030, 5, 1, 8, 30, tz="UTC")),  # naive = UTC
        (pendulum.datetime(2030, 5, 1, 8, 30, tz="Europe/Paris"), pendulum.datetime(2030, 5, 1, 6, 30, tz="UTC")),
        (
            datetime.datetime(2030, 5, 1, 8, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
            pendulum.datetime(2030, 5, 1, 13, 30, tz="UTC"),
        ),
        ("2030-05-01T08:30:00", pendulum.datetime(2030, 5, 1, 8, 30, tz="UTC")),
        ("2030-05-01T08:30:00-05:00", pendulum.datetime(2030, 5, 1, 13, 30, tz="UTC")),
        ("2030-05-01T08:30:00Z", pendulum.datetime(2030, 5, 1, 8, 30, tz="UTC")),
    ],
)
def test_accepted_forms(value, expected):
    got = resolve_start_time(value, now=NOW)
    assert got == expected
    if got is not None:
        assert got.utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize(
    "value, error, match",
    [
        (datetime.timedelta(seconds=-1), ValueError, "negative delay"),
        (pendulum.duration(seconds=-30), ValueError, "negative delay"),
        ("next tuesday", ValueError, "not an ISO-8601"),
        ("12:30", ValueError, "not a date-time"),
        ("P1D", ValueError, "not a date-time"),
        ("2030-01-01", ValueError, "not a date-time"),
        (1234567890, TypeError, "must be a datetime"),
        (datetime.date(2030, 1, 1), TypeError, "must be a datetime"),
    ],
)
def test_rejected_forms(value, error, match):
    with pytest.raises(error, match=match):
        resolve_start_time(value, now=NOW)


def test_to_seconds():
    assert to_seconds(datetime.timedelta(minutes=1), "d") == 60.0
    assert to_seconds(2, "d") == 2.0
    assert to_seconds(None, "d") is None
    with pytest.raises(ValueError, match="`d` must not be negative"):
        to_seconds(-1, "d")
    with pytest.raises(TypeError):
        to_seconds("5", "d")
    with pytest.raises(TypeError):
        to_seconds(None, "d", allow_none=False)
