"""Background service: keeps the next scheduled runs of every flow with an active schedule."""
import logging
import threading
from typing import Optional

from ..api.errors import ApiError
from ..api.schedules import active_flow_ids, schedule_flow_runs
from ..storage.database import Database

logger = logging.getLogger("tasks_flowrun.server")


class Scheduler:
    """Tops up scheduled runs every `interval` seconds in a daemon thread."""

    def __init__(self, db: Database, interval: float = 60.0) -> None:
        self.db = db
        self.interval = interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def run_once(self) -> int:
        created = 0
        with self.db.read() as conn:
            flow_ids = active_flow_ids(conn)
        for flow_id in flow_ids:
            try:
                with self.db.write() as conn:
                    created += len(schedule_flow_runs(conn, flow_id))
            except ApiError as exc:
                logger.warning("Could not schedule runs of flow %s: %s", flow_id, exc)
        return created

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a sweep must never take the server down
                logger.exception("Scheduler sweep failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tasks-flowrun-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
