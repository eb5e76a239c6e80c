"""Background service: finds runs whose process died and recovers them (see api/recovery.py).

A sweep judges runs only while the backend can hear them, and counts their silence only
since its last gap in availability (see availability.py): it first looks at the clocks
itself (after a SIGCONT this thread may run before the ticker), folds in the other server
processes' reports (PostgreSQL), and throws its work away if a gap happened while it ran.
A database error pauses recovery until the database answers again.
"""
import datetime as dt
import logging
from typing import Dict, List, Optional

from sqlalchemy import exc as sa_exc

from ..api.liveness import RunnerPolls
from ..api.recovery import RecoveryPolicy, recover_dead_runs
from ..availability import Availability
from ..metrics import count_recovery
from ..storage.database import Database
from ..timestamps import clock
from .availability import DATABASE
from .peers import PeerWatch
from .periodic import PeriodicService

logger = logging.getLogger("tasks_flowrun.server")

NOTHING: Dict[str, List[str]] = {"rescheduled": [], "failed": [], "cancelled": []}


def sweep_interval(heartbeat_timeout: float) -> float:
    """How often to look: a fifth of the timeout, between 1 s and 30 s, so a dead run is
    found within about 1.2x the timeout."""
    return min(30.0, max(1.0, heartbeat_timeout / 5))


class _GapDuringSweep(Exception):
    """The backend could not hear flow runs at some point during the sweep."""


def _database_error(exc: BaseException) -> bool:
    """Whether `exc` says the database is unreachable or unusable (not a bug of the sweep)."""
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


class Recovery(PeriodicService):
    """
    Every `interval` seconds, recovers the runs `recover_dead_runs` judges dead.

    Args:
        - db (Database): the database
        - policy (RecoveryPolicy): timeouts and the reschedule budget
        - polls (RunnerPolls, optional): the flow processes' self-polls
        - interval (float, optional): seconds between sweeps (default: `sweep_interval`)
        - availability (Availability, optional): when the backend could hear flow runs
            (default: a tracker started now)
    """

    name = "recovery"

    def __init__(self, db: Database, policy: RecoveryPolicy, polls: Optional[RunnerPolls] = None,
                 interval: Optional[float] = None, availability: Optional[Availability] = None) -> None:
        super().__init__(interval or sweep_interval(policy.heartbeat_timeout.total_seconds()), db)
        self.policy = policy
        self.polls = polls
        self.availability = availability or Availability(policy.heartbeat_timeout.total_seconds(),
                                                         policy.submitted_timeout.total_seconds())
        self.peers = PeerWatch(self.availability, policy.heartbeat_timeout.total_seconds())

    def on_leadership(self, leading: bool) -> None:
        if leading:
            self.availability.gap("this process took the lead of the background services (recovery): it "
                                  "judges runs only after a full timeout of its own")
        else:
            self.peers.stop_watching()
            logger.warning("This process lost the lead of the background services; another process recovers runs")

    def run_once(self, now: Optional[dt.datetime] = None) -> Dict[str, List[str]]:
        self.availability.observe()
        try:
            if self.db.shares_processes:
                self.peers.fold(self.db.peers(), self.db.drop_peers)
            heard_since = self.availability.heard_since()
            if heard_since is None:
                return NOTHING
            outcome = self._sweep(now, heard_since)
        except _GapDuringSweep:
            logger.info("Recovery sweep discarded: the backend could not hear flow runs during it")
            return NOTHING
        except Exception as exc:
            if not _database_error(exc):
                raise
            self.availability.unavailable(DATABASE, "the recovery sweep could not use the database "
                                                    f"({exc.__class__.__name__})")
            return NOTHING
        count_recovery(self.db, outcome)
        for verb, ids in outcome.items():
            if ids:
                logger.warning("Recovery %s %d flow run(s) whose process died: %s", verb, len(ids), ", ".join(ids))
            if self.polls is not None:
                for run_id in ids:
                    self.polls.forget(run_id)
        return outcome

    def _sweep(self, now: Optional[dt.datetime], heard_since: dt.datetime) -> Dict[str, List[str]]:
        generation = self.availability.generation
        with self.db.write() as conn:
            outcome = recover_dead_runs(conn, now or clock.now(), self.policy, self.polls, heard_since)
            self.availability.observe()
            if self.availability.generation != generation or self.availability.heard_since() is None:
                raise _GapDuringSweep()  # rolls the sweep back
        return outcome
