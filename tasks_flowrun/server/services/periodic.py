"""A background sweep: call `run_once()` every `interval` seconds in a daemon thread, in the
one server process that leads the database's services (every process on SQLite; one at a
time on PostgreSQL, see `Database.leads`)."""
import logging
import threading
from typing import Any, Optional, Protocol

logger = logging.getLogger("tasks_flowrun.server")


class Service(Protocol):
    """What the app starts with itself and stops with itself (app.py)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class PeriodicService:
    """Base of the backend's sweeps; subclasses implement `run_once()`."""

    name = "sweep"

    def __init__(self, interval: float, db: Any = None) -> None:
        self.interval = interval
        self.db = db
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._leading = False

    def run_once(self) -> Any:
        raise NotImplementedError

    def on_leadership(self, leading: bool) -> None:
        """Called when this process takes (True) or loses (False) the services' lead, on a
        database several processes share."""

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                leading = self.db is None or self.db.leads()
                shared = self.db is not None and self.db.shares_processes  # else always the leader
                if shared and leading != self._leading:
                    self._leading = leading
                    self.on_leadership(leading)
                if leading:
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
