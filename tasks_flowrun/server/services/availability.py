"""The threads that feed `availability.Availability` (see that module):

- the ticker looks at the clocks every half second (a stop, a sleep, a clock jump);
- the database watch asks the database every second whether it answers (where several
  server processes share it, by rewriting this process's presence row, which also tells
  the leader this process is up and since when it hears flow runs); a failed or stuck
  answer pauses recovery until the database answers again.

Both run in every server process, leader or not.
"""
import logging
import threading
import time
from typing import Optional

from ..availability import Availability
from ..storage.database import Database

logger = logging.getLogger("tasks_flowrun.server")

TICK_SECONDS = 0.5
PING_SECONDS = 1.0
PING_STUCK_SECONDS = 5.0  # a database answer that takes longer counts as no answer
DATABASE = "database"


class AvailabilityWatch:
    """
    The ticker and database-watch threads of one server process.

    Args:
        - availability (Availability): the tracker to feed
        - db (Database): the database to watch
    """

    def __init__(self, availability: Availability, db: Database) -> None:
        self.availability = availability
        self.db = db
        self._stop = threading.Event()
        self._ping_started: Optional[float] = None  # monotonic start of the ping in flight
        self._threads = [threading.Thread(target=self._tick, name="tasks-flowrun-clock", daemon=True),
                         threading.Thread(target=self._watch_database, name="tasks-flowrun-db-watch", daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            self.availability.observe()
            started = self._ping_started
            if started is not None and time.monotonic() - started > PING_STUCK_SECONDS:
                self.availability.unavailable(DATABASE, f"the database has not answered for {PING_STUCK_SECONDS:g} s")

    def _watch_database(self) -> None:
        while not self._stop.wait(PING_SECONDS):
            available_for = self.availability.available_for()
            reasons = self.availability.unavailable_reasons()
            self._ping_started = time.monotonic()
            try:
                self.db.report_presence(available_for, "; ".join(reasons) or self.availability.last_gap)
            except Exception as exc:  # any failure to answer: the database cannot record signs of life
                if not self._stop.is_set():
                    self.availability.unavailable(DATABASE, f"the database does not answer ({_short(exc)})")
            else:
                self.availability.available(DATABASE, "the database answers again")
            finally:
                self._ping_started = None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
