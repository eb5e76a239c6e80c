"""The availability tracker (tasks_flowrun/server/availability.py) on clocks the test moves:
a start, a stop of the process, a sleep of the machine, a wall clock jumping either way,
sources unavailable for a while, peers' gaps; each opens a grace period (logged) from whose
end silence counts again, and the end of the grace period is logged too."""
import datetime as dt
import logging
import pytest
from typing import Optional

from tasks_flowrun.server.availability import Availability, Clocks
from tasks_flowrun.server.services.peers import PeerWatch
from tasks_flowrun.server.storage.presence import Peer

GRACE = 30.0
START = 1_800_000_000.0  # epoch seconds of the test's "now"


class FakeClocks:
    """Monotonic, wall, boot and CPU clocks the test moves by hand (the process's CPU time
    stands still unless the test says the process was busy)."""

    def __init__(self) -> None:
        self.mono, self.wall, self.boot, self.cpu = 1000.0, START, 5000.0, 10.0

    def clocks(self, with_boottime: bool = True) -> Clocks:
        return Clocks(monotonic=lambda: self.mono, wall=lambda: self.wall,
                      boottime=(lambda: self.boot) if with_boottime else (lambda: None), cpu=lambda: self.cpu)

    def busy(self, seconds: float) -> None:
        """Time passes while the process's own work keeps the ticker from looking."""
        self.run(seconds)
        self.cpu += seconds

    def run(self, seconds: float) -> None:
        """Time passes while the process runs normally."""
        self.mono += seconds
        self.wall += seconds
        self.boot += seconds


def _at(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


@pytest.fixture
def clocks() -> FakeClocks:
    return FakeClocks()


def _tracker(clocks: FakeClocks, retry_allowance: float = 0.0, **kwargs) -> Availability:
    return Availability(GRACE, clocks=clocks.clocks(**kwargs), retry_allowance=retry_allowance)


def _walk(tracker: Availability, clocks: FakeClocks, seconds: float, step: float = 0.5) -> None:
    """The ticker looking every `step` seconds while time passes normally."""
    for _ in range(int(seconds / step)):
        clocks.run(step)
        tracker.observe()


def _messages(caplog, level: int) -> list:
    return [r.getMessage() for r in caplog.records if r.name == "tasks_flowrun.server" and r.levelno == level]


def test_the_start_opens_a_grace_period_that_ends_after_the_timeout(clocks, caplog):
    caplog.set_level(logging.INFO, logger="tasks_flowrun.server")
    tracker = _tracker(clocks)
    assert tracker.heard_since() == _at(START)
    assert any("just started" in m for m in _messages(caplog, logging.INFO))
    _walk(tracker, clocks, GRACE - 1)
    assert not any("grace period over" in m for m in _messages(caplog, logging.INFO))
    _walk(tracker, clocks, 2)
    assert any("grace period over" in m for m in _messages(caplog, logging.INFO))
    assert tracker.heard_since() == _at(START)  # normal running never moves it


def test_clients_get_time_to_retry_on_top_of_the_timeout(clocks, caplog):
    """Prefect's client pauses up to 32 s between two retries of a failed request."""
    caplog.set_level(logging.INFO, logger="tasks_flowrun.server")
    tracker = _tracker(clocks, retry_allowance=32.0)
    assert tracker.heard_since() == _at(START + 32)
    assert tracker.available_for() == 0.0
    _walk(tracker, clocks, 32 + GRACE - 1)
    assert not any("grace period over" in m for m in _messages(caplog, logging.INFO))
    _walk(tracker, clocks, 2)
    assert any("grace period over" in m for m in _messages(caplog, logging.INFO))


def test_a_stopped_process_is_a_gap(clocks, caplog):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    generation = tracker.generation
    clocks.run(45)  # SIGSTOP for 45 s: no look at all meanwhile
    tracker.observe()
    assert tracker.heard_since() == _at(clocks.wall)
    assert tracker.generation != generation
    [warning] = _messages(caplog, logging.WARNING)
    assert "did not run for 45 s" in warning and "No flow run is judged dead before" in warning


def test_a_process_busy_with_its_own_work_is_no_gap_nor_a_stall(clocks, caplog):
    """A long request holding the interpreter keeps the ticker waiting, but the process ran:
    no grace period, and no stall that would give requests their time budget again."""
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    generation = tracker.generation
    clocks.busy(12)
    tracker.observe()
    assert tracker.heard_since() == _at(START)
    assert tracker.generation == generation
    assert tracker.last_stall() is None
    assert _messages(caplog, logging.WARNING) == []


def test_a_short_pause_is_no_gap(clocks):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    clocks.run(2.5)  # a busy moment, under the stall threshold
    tracker.observe()
    assert tracker.heard_since() == _at(START)


def test_a_sleeping_machine_is_a_gap(clocks, caplog):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    clocks.wall += 600  # suspended: the monotonic clock stands still, the boot clock counts
    clocks.boot += 600
    tracker.observe()
    assert tracker.heard_since() == _at(clocks.wall)
    assert any("asleep for 600 s" in m for m in _messages(caplog, logging.WARNING))


@pytest.mark.parametrize("jump", [300.0, -300.0], ids=["forward", "back"])
def test_a_wall_clock_jump_is_a_gap(clocks, caplog, jump):
    tracker = _tracker(clocks, with_boottime=False)
    _walk(tracker, clocks, 60)
    before = tracker.heard_since()
    clocks.wall += jump
    tracker.observe()
    direction = "forward" if jump > 0 else "back"
    assert any(f"jumped {direction} by 300 s" in m for m in _messages(caplog, logging.WARNING))
    # forward: silence counts from the jump; back: never from earlier than before the jump
    assert tracker.heard_since() == (_at(clocks.wall) if jump > 0 else before)


def test_an_unavailable_source_pauses_judgement_until_it_recovers(clocks, caplog):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    tracker.unavailable("database", "the database does not answer (connection refused)")
    assert tracker.heard_since() is None
    warnings = _messages(caplog, logging.WARNING)
    assert any(m.startswith("Recovery paused: the database does not answer") for m in warnings)
    _walk(tracker, clocks, 20)
    assert tracker.heard_since() is None
    tracker.available("database", "the database answers again")
    assert tracker.heard_since() == _at(clocks.wall)
    assert any("answers again" in m for m in _messages(caplog, logging.WARNING))


def test_two_sources_down_at_once_need_both_back(clocks):
    tracker = _tracker(clocks)
    tracker.unavailable("database", "db down")
    tracker.unavailable("listener", "listener down")
    tracker.available("database")
    assert tracker.heard_since() is None
    clocks.run(1)
    tracker.available("listener")
    assert tracker.heard_since() == _at(clocks.wall)


def test_an_earlier_gap_never_moves_the_end_back(clocks, caplog):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    tracker.gap("a peer process was suspended", ended_at=START + 30)
    assert tracker.heard_since() == _at(START + 30)
    count = len(_messages(caplog, logging.WARNING))
    tracker.gap("the same gap, reported again", ended_at=START + 30)
    tracker.gap("an older one", ended_at=START + 10)
    assert tracker.heard_since() == _at(START + 30)
    assert len(_messages(caplog, logging.WARNING)) == count  # nothing new to say


def test_available_for_a_source_never_down_changes_nothing(clocks):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    generation = tracker.generation
    tracker.available("database", "the database answers again")
    assert tracker.heard_since() == _at(START) and tracker.generation == generation


# --- other server processes on the database, as the leader folds them in ---------------------


def _peer(silent_for: float = 0.5, available_for: Optional[float] = 100.0, reason: str = "it just started") -> Peer:
    return Peer("b-1", "host-b", 42, silent_for, available_for, reason)


def test_a_silent_peer_pauses_judgement_and_its_return_is_a_gap(clocks):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    peers = PeerWatch(tracker, drop_after=GRACE)
    dropped: list = []
    peers.fold([_peer()], dropped.extend)
    assert tracker.heard_since() == _at(START)  # a healthy peer whose last gap is older changes nothing
    peers.fold([_peer(silent_for=10)], dropped.extend)  # suspended, say
    assert tracker.heard_since() is None
    clocks.run(5)
    peers.fold([_peer(silent_for=0.3)], dropped.extend)
    assert tracker.heard_since() == _at(clocks.wall) and dropped == []


def test_a_peer_that_cannot_hear_pauses_and_its_recent_gap_extends_the_grace(clocks):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    peers = PeerWatch(tracker, drop_after=GRACE)
    peers.fold([_peer(available_for=None, reason="the database does not answer")], lambda ids: None)
    assert tracker.heard_since() is None
    peers.fold([_peer(available_for=2.0, reason="the database answers again")], lambda ids: None)
    assert tracker.heard_since() == _at(clocks.wall)  # its gap ended only now (within a second)


def test_a_peer_gone_longer_than_the_timeout_is_dropped_and_grace_restarts(clocks, caplog):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    peers = PeerWatch(tracker, drop_after=GRACE)
    dropped: list = []
    peers.fold([_peer(silent_for=5)], dropped.extend)
    assert tracker.heard_since() is None
    clocks.run(40)
    peers.fold([_peer(silent_for=45)], dropped.extend)
    assert dropped == ["b-1"]
    assert tracker.heard_since() == _at(clocks.wall)
    assert any("dropped as gone" in m for m in _messages(caplog, logging.WARNING))


def test_a_peer_that_stopped_cleanly_ends_a_gap(clocks):
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    peers = PeerWatch(tracker, drop_after=GRACE)
    peers.fold([_peer()], lambda ids: None)
    clocks.run(1)
    peers.fold([], lambda ids: None)  # its row was removed when it stopped
    assert tracker.heard_since() == _at(clocks.wall)


def test_a_process_that_stops_leading_forgets_the_peers_it_watched(clocks):
    """Else it would report itself unable to hear flow runs (its presence row), for gaps of
    processes it no longer watches, and pause the new leader for good."""
    tracker = _tracker(clocks)
    _walk(tracker, clocks, 60)
    peers = PeerWatch(tracker, drop_after=GRACE)
    peers.fold([_peer(silent_for=5)], lambda ids: None)
    assert tracker.heard_since() is None
    peers.stop_watching()
    assert tracker.heard_since() == _at(START) and tracker.available_for() is not None
