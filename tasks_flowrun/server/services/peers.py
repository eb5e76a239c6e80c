"""Other server processes on the database, as the process leading recovery sees them.

Flow processes may talk to any server process; when one of those cannot hear them (it was
stopped or suspended, it lost its database or its listener), their silence is no evidence
either. Before each sweep the leader reads every process's presence row
(`storage/presence.py`) and folds it into its own availability tracker:

- a process silent for a few seconds pauses recovery until it reports again (a gap then
  ends: its flow processes get a full timeout to report in);
- a process that reports it cannot hear flow runs pauses recovery the same way;
- a process whose last gap ended recently extends the grace period to a full timeout after it;
- a process silent for longer than the heartbeat timeout is dropped as gone, and a gap ends
  then (the flow processes it served get a full timeout to reach another process);
- a process that stopped cleanly (its row removed) ends a gap the same way.
"""
from typing import Callable, List, Sequence, Set

from ..availability import Availability
from ..storage.presence import Peer

SILENT_SECONDS = 3.0  # a process reports every second; this long without a report pauses recovery
PREFIX = "server process "


def _name(peer: Peer) -> str:
    return f"server process {peer.id} on {peer.host} (pid {peer.pid})"


class PeerWatch:
    """
    The leader's view of the other server processes, kept from one sweep to the next.

    Args:
        - availability (Availability): the leader's tracker, into which peers' gaps fold
        - drop_after (float): seconds of silence after which a process is dropped as gone
    """

    def __init__(self, availability: Availability, drop_after: float) -> None:
        self.availability = availability
        self.drop_after = drop_after
        self._known: Set[str] = set()

    def fold(self, peers: Sequence[Peer], drop: Callable[[List[str]], None]) -> None:
        """Pause, extend or end the grace period from what the other processes last
        reported; `drop(ids)` forgets the processes found gone."""
        availability = self.availability
        now = availability.clocks.wall()
        gone = [p for p in peers if p.silent_for > self.drop_after]
        if gone:
            drop([p.id for p in gone])
        present = set()
        for peer in peers:
            source = PREFIX + peer.id
            if peer in gone:
                self._end(source, f"{_name(peer)} has not reported for {peer.silent_for:.0f} s: dropped as gone; "
                                  "the flow runs it served may report through another")
                continue
            present.add(peer.id)
            if peer.silent_for > SILENT_SECONDS:
                availability.unavailable(source, f"{_name(peer)} has not reported for {peer.silent_for:.0f} s "
                                                 "(stopped, suspended or cut off from the database), so flow runs "
                                                 "talking to it may not be heard")
            elif peer.available_for is None:
                availability.unavailable(source, f"{_name(peer)} cannot hear flow runs: "
                                                 f"{peer.gap_reason or 'reason unknown'}")
            else:
                availability.available(source, f"{_name(peer)} reports again")
                availability.gap(f"{_name(peer)}: {peer.gap_reason or 'it had a gap'}",
                                 ended_at=now - peer.available_for)
        for peer_id in self._known - present - {p.id for p in gone}:
            self._end(PREFIX + peer_id, f"{PREFIX}{peer_id} stopped; the flow runs it served may report "
                                        "through another")
        self._known = present

    def stop_watching(self) -> None:
        """This process no longer leads recovery: the other processes are the new leader's
        concern (and what this one reports of itself must not carry their gaps)."""
        self.availability.forget(PREFIX)
        self._known = set()

    def _end(self, source: str, why: str) -> None:
        if source in self.availability.down_sources():
            self.availability.available(source, why)
        else:
            self.availability.gap(why)
