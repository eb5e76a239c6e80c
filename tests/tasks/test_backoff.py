"""The poll schedule: fast right after a change, then growing to the cap; snaps back."""
import pytest

from tasks_flowrun.tasks.backoff import FLOOR, PollBackoff


def simulate(backoff, seconds, change_at=()):
    """Drive the schedule on a fake clock; return the poll times."""
    now, polls, changes = 0.0, [], sorted(change_at)
    first = True
    while now < seconds:
        polls.append(now)
        changed = first or bool(changes and changes[0] <= now)
        while changes and changes[0] <= now:
            changes.pop(0)
        first = False
        now += backoff.next_interval(changed, now)
    return polls


def test_fast_during_grace_then_grows_to_cap():
    backoff = PollBackoff()
    polls = simulate(backoff, 600)
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    early = [g for t, g in zip(polls, gaps) if t < 9.5]
    assert early and max(early) == pytest.approx(0.5)  # median detection delay ~0.25 s
    assert max(gaps) == pytest.approx(10.0)
    assert all(b >= a - 1e-9 for a, b in zip(gaps, gaps[1:]))  # never shrinks without change
    last_minute = [t for t in polls if t >= 540]
    assert len(last_minute) <= 6  # <= 6 requests / minute once grown


def test_snaps_back_on_change():
    backoff = PollBackoff()
    polls = simulate(backoff, 120, change_at=[60])
    gaps = {t: b - t for t, b in zip(polls, polls[1:])}
    after = [g for t, g in gaps.items() if 60 <= t < 65]
    assert after and min(after) == pytest.approx(0.5)
    before = [g for t, g in gaps.items() if 50 <= t < 60]
    assert max(before) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"minimum": FLOOR / 2}, "at least"),
        ({"minimum": 5, "maximum": 2}, "must not be smaller"),
        ({"factor": 1.0}, "greater than 1"),
    ],
)
def test_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PollBackoff(**kwargs)
