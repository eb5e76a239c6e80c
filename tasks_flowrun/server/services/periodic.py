"""A background sweep: call `run_once()` every `interval` seconds in a daemon thread, in the
one server process that leads the database's services (every process on SQLite; one at a
time on PostgreSQL, see `Database.leads`)."""
import logging
import threading
from typing import Any, Optional

logger = logging.getLogger("tasks_flowrun.server")


class PeriodicService:
    """Base of the backend's sweeps; subclasses implement `run_once()`."""

    name = "sweep"

    def __init__(self, interval: float, db: Any = None) -> None:
        self.interval = interval
        self.db = db
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def run_once(self) -> Any:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.db is None or self.db.leads():
                    self.run_once()
            except Exception:  # a sweep must never take the server down
                logger.exception("%s sweep failed", self.name)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"tasks-flowrun-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
