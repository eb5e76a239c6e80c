"""Proof that a flow run's own process is alive, beyond its heartbeats.

Prefect 1's flow runner sends heartbeats from a separate `prefect heartbeat` subprocess by
default (`cloud.heartbeat_mode = "process"`). When the flow process is killed, that
subprocess is orphaned and keeps heartbeating forever, so heartbeats alone cannot tell a
dead run from a live one. The flow process itself, however, polls its own run
(`flow_run_by_pk`, the client's `get_flow_run_info`) from a thread every
`cloud.check_cancellation_interval` seconds (15 by default) for as long as its flow body
runs. This registry remembers when each run last polled itself; the recovery sweep treats
a run that polled itself once in its current state and then fell silent as dead, whatever
its heartbeats say.

The registry lives in memory: after a backend restart it knows nothing, and runs are
judged by their heartbeats alone until they poll again. Several server processes on one
PostgreSQL database share what they see (`Database.share_polls`), so the process that runs
the recovery sweep knows of polls another process answered.
"""
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Callable, Optional

from ..timestamps import clock

MAX_TRACKED_RUNS = 100_000


class RunnerPolls:
    """When each flow run last read itself by primary key (thread-safe, bounded)."""

    def __init__(self, capacity: int = MAX_TRACKED_RUNS) -> None:
        self._seen: "OrderedDict[str, datetime]" = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity
        # told of every poll this process answers (to share it with other processes)
        self.on_poll: Optional[Callable[[str, datetime], None]] = None

    def saw(self, flow_run_id: str, at: Optional[datetime] = None) -> None:
        """Record a self-poll of `flow_run_id`: one this process answered (now), or, with
        `at`, one another process reported."""
        moment = at or clock.now()
        if at is None and self.on_poll is not None:
            self.on_poll(flow_run_id, moment)
        with self._lock:
            self._seen[flow_run_id] = moment
            self._seen.move_to_end(flow_run_id)
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)

    def last(self, flow_run_id: str) -> Optional[datetime]:
        """When `flow_run_id` last polled itself, if this process saw it."""
        with self._lock:
            return self._seen.get(flow_run_id)

    def forget(self, flow_run_id: str) -> None:
        with self._lock:
            self._seen.pop(flow_run_id, None)
