"""The runs' log lines a wait streams into its own log: each line once, late ones included,
and the last lines of every run, however many finish at the same moment.

Lines are followed by the time the backend stored them (`created`), not by their own
timestamps: Prefect uploads a flow process's lines in batches every few seconds (and the
last ones as the process exits, after its final state), with the times they were logged,
so a line can arrive long after newer ones. Each read asks for the lines stored after the
newest stored time seen, less `LOG_OVERLAP` (writes of several server processes may
commit out of order), and lines already shown are dropped by their id.

A run's last lines reach the backend after its final state. Once a run is seen finished,
the wait goes on for it until a line of it stored after its final state has been read (its
process's last upload), or `LOG_GRACE` seconds have passed: every run finishing together
gets its own grace, not one for all.
"""
import logging
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pendulum

from .times import parse_timestamp

LOG_OVERLAP = 10.0  # seconds of stored lines read again on every read
LOG_TAIL = 1000  # lines per run read until a first line is seen: a long history is not fetched whole
LOG_GRACE = 3.0  # seconds a finished run's last upload may take
MAX_REMEMBERED = 20_000  # ids of shown lines kept past the overlap window at most

Line = Tuple[pendulum.DateTime, int, str]


class LogStream:
    """
    Which lines of the watched runs were shown, and which finished runs may still upload some.

    Args:
        - clock (Callable): the monotonic clock of the wait
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._newest: Optional[pendulum.DateTime] = None  # newest stored time seen, any run
        self._seen: Dict[str, pendulum.DateTime] = {}  # shown line id -> its stored time
        self._newest_of: Dict[str, pendulum.DateTime] = {}  # run -> newest stored time of its lines
        self._finished: Dict[str, Tuple[pendulum.DateTime, float]] = {}  # run -> (final state time, seen at)
        self._complete: Set[str] = set()
        self._awaited: Dict[str, float] = {}  # finished runs whose last upload may still come -> grace end
        self.truncated: Set[str] = set()

    @property
    def after(self) -> Optional[str]:
        """The stored time to read lines after (ISO), or `None` before any line was seen."""
        if self._newest is None:
            return None
        return self._newest.subtract(seconds=LOG_OVERLAP).isoformat()

    def new_lines(self, row: Dict[str, Any]) -> List[Line]:
        """The lines of `row["logs"]` not shown yet, prefixed by the run's name."""
        run_id, name = row["id"], row.get("name")
        lines: List[Line] = []
        logs = row.get("logs") or []
        if self.after is None and len(logs) >= LOG_TAIL and run_id not in self.truncated:
            self.truncated.add(run_id)
            lines.append((parse_timestamp(logs[0]["timestamp"]), logging.INFO,
                          f"{name}: (earlier log lines not shown: streaming from its last {LOG_TAIL})"))
        for entry in logs:
            log_id = str(entry.get("id") or (entry.get("timestamp"), entry.get("message")))
            if log_id in self._seen:
                continue
            stored = parse_timestamp(entry.get("created") or entry["timestamp"])
            self._seen[log_id] = stored
            if self._newest is None or stored > self._newest:
                self._newest = stored
            if run_id not in self._newest_of or stored > self._newest_of[run_id]:
                self._newest_of[run_id] = stored
            level = logging.getLevelName(str(entry.get("level") or "INFO").upper())
            level = level if isinstance(level, int) else logging.INFO
            lines.append((parse_timestamp(entry["timestamp"]), level, f"{name}: {entry.get('message')}"))
        self._forget_old()
        self._check_complete(run_id)
        return lines

    def finished(self, run_id: str, state_timestamp: Optional[str]) -> None:
        """Note that `run_id` is finished (its final state set at `state_timestamp`, the
        backend's time): its last upload is awaited from now on."""
        if run_id in self._finished:
            return
        final = parse_timestamp(state_timestamp) if state_timestamp else pendulum.now("UTC")
        seen_at = self.clock()
        self._finished[run_id] = (final, seen_at)
        if (pendulum.now("UTC") - final).total_seconds() > LOG_GRACE:
            self._complete.add(run_id)  # finished long ago: its process is gone
        else:
            self._awaited[run_id] = seen_at + LOG_GRACE
        self._check_complete(run_id)

    def restarted(self, run_id: str) -> None:
        """`run_id` is not finished any more (restarted): its end is awaited again."""
        self._finished.pop(run_id, None)
        self._complete.discard(run_id)
        self._awaited.pop(run_id, None)

    def awaited(self) -> List[str]:
        """Finished runs whose last upload may still come (within their grace)."""
        now = self.clock()
        for run_id in [run_id for run_id, end in self._awaited.items() if end <= now]:
            del self._awaited[run_id]
        return list(self._awaited)

    def next_deadline(self) -> Optional[float]:
        """When the soonest grace of an awaited run ends (monotonic clock)."""
        return min(self._awaited.values(), default=None)

    def _check_complete(self, run_id: str) -> None:
        done = self._finished.get(run_id)
        newest = self._newest_of.get(run_id)
        if done is not None and newest is not None and newest > done[0]:
            self._complete.add(run_id)
            self._awaited.pop(run_id, None)

    def _forget_old(self) -> None:
        if len(self._seen) <= MAX_REMEMBERED or self._newest is None:
            return
        horizon = self._newest.subtract(seconds=LOG_OVERLAP * 2)
        self._seen = {log_id: stored for log_id, stored in self._seen.items() if stored >= horizon}
