"""Background service: revives runs whose process died (see api/lazarus.py)."""
import datetime as dt
import logging
from typing import Dict, List, Optional

from ..api.lazarus import revive_silent_runs
from ..storage.database import Database
from ..timestamps import clock
from .periodic import PeriodicService

logger = logging.getLogger("tasks_flowrun.server")


class Lazarus(PeriodicService):
    """Every `interval` seconds, reschedules runs silent for longer than `silent_for` seconds."""

    name = "lazarus"

    def __init__(self, db: Database, silent_for: float = 600.0, interval: float = 60.0) -> None:
        super().__init__(interval)
        self.db = db
        self.silent_for = dt.timedelta(seconds=silent_for)

    def run_once(self, now: Optional[dt.datetime] = None) -> Dict[str, List[str]]:
        with self.db.write() as conn:
            outcome = revive_silent_runs(conn, now or clock.now(), self.silent_for)
        for verb, ids in outcome.items():
            if ids:
                logger.warning("Lazarus %s %d silent flow run(s): %s", verb, len(ids), ", ".join(ids))
        return outcome
