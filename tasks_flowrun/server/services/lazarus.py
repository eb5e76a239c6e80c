"""Background service: revives runs whose process died (see api/lazarus.py)."""
import datetime as dt
import logging
import threading
from typing import Dict, List, Optional

from ..api.lazarus import revive_silent_runs
from ..storage.database import Database
from ..timestamps import clock

logger = logging.getLogger("tasks_flowrun.server")


class Lazarus:
    """Every `interval` seconds, reschedules runs silent for longer than `silent_for` seconds."""

    def __init__(self, db: Database, silent_for: float = 600.0, interval: float = 60.0) -> None:
        self.db = db
        self.silent_for = dt.timedelta(seconds=silent_for)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def run_once(self, now: Optional[dt.datetime] = None) -> Dict[str, List[str]]:
        with self.db.write() as conn:
            outcome = revive_silent_runs(conn, now or clock.now(), self.silent_for)
        for verb, ids in outcome.items():
            if ids:
                logger.warning("Lazarus %s %d silent flow run(s): %s", verb, len(ids), ", ".join(ids))
        return outcome

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a sweep must never take the server down
                logger.exception("Lazarus sweep failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tasks-flowrun-lazarus", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
