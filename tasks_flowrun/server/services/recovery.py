"""Background service: finds runs whose process died and recovers them (see api/recovery.py)."""
import datetime as dt
import logging
from typing import Dict, List, Optional

from ..api.liveness import RunnerPolls
from ..api.recovery import RecoveryPolicy, recover_dead_runs
from ..metrics import count_recovery
from ..storage.database import Database
from ..timestamps import clock
from .periodic import PeriodicService

logger = logging.getLogger("tasks_flowrun.server")


def sweep_interval(heartbeat_timeout: float) -> float:
    """How often to look: a fifth of the timeout, between 1 s and 30 s, so a dead run is
    found within about 1.2x the timeout."""
    return min(30.0, max(1.0, heartbeat_timeout / 5))


class Recovery(PeriodicService):
    """Every `interval` seconds, recovers the runs `recover_dead_runs` judges dead."""

    name = "recovery"

    def __init__(self, db: Database, policy: RecoveryPolicy, polls: Optional[RunnerPolls] = None,
                 interval: Optional[float] = None) -> None:
        super().__init__(interval or sweep_interval(policy.heartbeat_timeout.total_seconds()), db)
        self.policy = policy
        self.polls = polls

    def run_once(self, now: Optional[dt.datetime] = None) -> Dict[str, List[str]]:
        with self.db.write() as conn:
            outcome = recover_dead_runs(conn, now or clock.now(), self.policy, self.polls)
        count_recovery(self.db, outcome)
        for verb, ids in outcome.items():
            if ids:
                logger.warning("Recovery %s %d flow run(s) whose process died: %s", verb, len(ids), ", ".join(ids))
        return outcome
