"""The PostgreSQL store: several server processes on one database.

- Writes run in READ COMMITTED transactions from every process at once. What must not race
  is made safe by the database itself: unique constraints with `ON CONFLICT` (idempotency
  keys, task run identities), row locks taken before a decision (`fetch_rows(lock=True)`:
  a run's state and version, the Submitted lock, a flow group's next version). No process
  lock is involved, so nothing depends on which process a client talks to.
- Changes committed by any process reach the pushed waits of every process: a write
  transaction sends its noted changes with `pg_notify` (delivered at commit, dropped on
  rollback); each process LISTENs on one dedicated connection and publishes what others
  sent on its own change feed.
- So do the flow runs' self-polls (proof their flow process is alive, `api/liveness.py`):
  batched once a second on the same channel, recorded by every process.
- The background services run in one process at a time: the one holding a session-level
  advisory lock on a dedicated connection (released by PostgreSQL when that process dies).
- Each process reports every second that it is up and since when it could hear flow runs
  (`server_process`), and says when its listener lost its connection (its polls then stop
  reaching the others): the leader pauses recovery while any process cannot hear flow runs
  (see availability.py, services/peers.py).
"""
import datetime as dt
import json
import logging
import os
import socket
import threading
import uuid
import zlib
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Tuple

try:
    import psycopg
except ImportError as exc:  # the `postgres` extra is not installed (or psycopg finds no libpq)
    raise ImportError(f"A postgresql:// database needs the 'postgres' extra: pip install 'tasks_flowrun[postgres]' "
                      f"(psycopg could not be imported: {exc})", name="psycopg") from None
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from .database import Database, forget_noted, run_after_commit, take_after_commit, take_changes
from .migrations import prepare_schema
from .presence import Peer, drop_presence, peers, record_presence

logger = logging.getLogger("tasks_flowrun.server")

CHANNEL = "tasks_flowrun_changes"
MAX_NOTIFY_BYTES = 7_000  # PostgreSQL's payload limit is 8,000 bytes
SERVICES_LOCK = zlib.crc32(b"tasks_flowrun.services")  # the advisory lock the service leader holds
POOL_SIZE = 16
CONNECT_TIMEOUT = 10  # seconds to reach the database before a request fails
POLL_FLUSH_SECONDS = 1.0  # self-polls are shared with the other processes this often
POLLS_PER_NOTICE = 80  # (id, time) pairs per notification, under the payload limit
RECONNECT_SECONDS = 1.0


def driver_url(url: str) -> sa.URL:
    """The SQLAlchemy URL for psycopg 3 (`postgresql://` and `postgres://` accepted)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    return parsed.set(drivername="postgresql+psycopg")


def _libpq_dsn(url: sa.URL) -> str:
    """A psycopg connection string for the dedicated (listener, leader) connections."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresDatabase(Database):
    """One PostgreSQL database, shared by this process's request threads and by other
    server processes."""

    store = "postgresql"

    def __init__(self, url: str, statement_timeout: Optional[float] = None) -> None:
        super().__init__()
        self.url = driver_url(url)
        options: Dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
        if statement_timeout:
            # a request's time budget, enforced by the server on each statement
            options["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
        self.engine = sa.create_engine(self.url, pool_size=POOL_SIZE, max_overflow=32, pool_pre_ping=True,
                                       connect_args=options)
        self._token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # this process's notifications and presence
        self._availability: Any = None  # availability.Availability, once watched
        self._stop = threading.Event()
        self._leader: Optional[psycopg.Connection] = None
        self._leader_lock = threading.Lock()
        self._polls: Any = None  # api.liveness.RunnerPolls, once shared
        self._pending_polls: Dict[str, str] = {}  # run id -> when it polled (ISO), to send
        self._polls_lock = threading.Lock()
        try:
            self.schema_upgrade = prepare_schema(self.engine, None)
        except BaseException:
            self.engine.dispose()
            raise
        self._listening = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="tasks-flowrun-listen", daemon=True)
        self._listener.start()
        self._listening.wait(10)

    @property
    def description(self) -> str:
        return self.url.set(drivername="postgresql").render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (READ COMMITTED), committed on exit, rolled back on error."""
        with self.engine.connect() as conn:
            forget_noted(conn)
            transaction = conn.begin()
            try:
                yield conn
                noted = take_changes(conn)
                callbacks = take_after_commit(conn)
                for payload in _payloads(self._token, noted):
                    conn.execute(sa.text("SELECT pg_notify(:channel, :payload)"),
                                 {"channel": CHANNEL, "payload": payload})
                transaction.commit()
            except BaseException:
                forget_noted(conn)
                if transaction.is_active:
                    transaction.rollback()
                raise
        if noted:
            self.changes.publish(noted)
        run_after_commit(self, callbacks)

    # -- changes from other processes -------------------------------------------------

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(_libpq_dsn(self.url), autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    if self._availability is not None:
                        self._availability.available("listener", "the PostgreSQL change listener is connected again")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=POLL_FLUSH_SECONDS):
                            self._receive(note.payload)
                        self._send_polls(conn)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                logger.warning("Lost the PostgreSQL change listener (%s); reconnecting", exc)
                if self._availability is not None:  # self-polls shared by other processes are missed meanwhile
                    self._availability.unavailable("listener", f"the PostgreSQL change listener lost its connection "
                                                               f"({str(exc).strip() or type(exc).__name__})")
                self._listening.set()
                self._stop.wait(RECONNECT_SECONDS)

    def _receive(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("from") == self._token:
                return  # published locally at commit already
            changes = [tuple(str(item) for item in change) for change in message.get("changes", [])]
            polls = [(str(run_id), dt.datetime.fromisoformat(at)) for run_id, at in message.get("polls", [])]
        except (ValueError, TypeError, AttributeError):
            logger.warning("Ignored a malformed change notification on %s", CHANNEL)
            return
        if changes:
            self.changes.publish(changes)
        if polls and self._polls is not None:
            for run_id, at in polls:
                self._polls.saw(run_id, at=at)

    def share_polls(self, polls: Any) -> None:
        self._polls = polls
        polls.on_poll = self._queue_poll

    def _queue_poll(self, flow_run_id: str, at: dt.datetime) -> None:
        with self._polls_lock:
            self._pending_polls[flow_run_id] = at.isoformat()

    def _send_polls(self, conn: psycopg.Connection) -> None:
        with self._polls_lock:
            pending, self._pending_polls = self._pending_polls, {}
        items = list(pending.items())
        for start in range(0, len(items), POLLS_PER_NOTICE):
            payload = json.dumps({"from": self._token, "polls": items[start:start + POLLS_PER_NOTICE]})
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    # -- the server processes sharing the database -----------------------------------------

    shares_processes = True

    def watch_availability(self, availability: Any) -> None:
        self._availability = availability

    def report_presence(self, available_for: Optional[float], gap_reason: Optional[str]) -> None:
        with self.write() as conn:
            record_presence(conn, self._token, socket.gethostname(), os.getpid(), available_for, gap_reason)

    def peers(self) -> List[Peer]:
        with self.read() as conn:
            return peers(conn, self._token)

    def drop_peers(self, process_ids: List[str]) -> None:
        with self.write() as conn:
            drop_presence(conn, process_ids)

    # -- the background services' leader -----------------------------------------------

    def leads(self) -> bool:
        """Whether this process holds the services' advisory lock (taking it if free)."""
        with self._leader_lock:
            if self._leader is not None:
                try:
                    self._leader.execute("SELECT 1")
                    return True
                except psycopg.Error:
                    self._drop_leader()
            try:
                conn = psycopg.connect(_libpq_dsn(self.url), autocommit=True, connect_timeout=CONNECT_TIMEOUT)
            except psycopg.Error as exc:
                logger.warning("Cannot reach PostgreSQL to take the services' lead: %s", exc)
                return False
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (SERVICES_LOCK,)).fetchone()
            if got and got[0]:
                self._leader = conn
                return True
            conn.close()
            return False

    def _drop_leader(self) -> None:
        if self._leader is not None:
            try:
                self._leader.close()
            except psycopg.Error:
                pass
            self._leader = None

    def dispose(self) -> None:
        self._stop.set()
        self._listener.join(timeout=5)
        try:  # stopping cleanly: no longer a process whose silence pauses recovery
            self.drop_peers([self._token])
        except Exception as exc:
            logger.warning("Could not remove this process from server_process: %s", exc)
        with self._leader_lock:
            self._drop_leader()
        super().dispose()


def _payloads(token: str, changes: List[Tuple[str, ...]]) -> Iterator[str]:
    """The notification payloads for `changes`, each under PostgreSQL's size limit."""
    batch: List[Any] = []
    size = 0
    for change in dict.fromkeys(changes):
        item_size = sum(len(str(item)) + 4 for item in change) + 4
        if batch and size + item_size > MAX_NOTIFY_BYTES:
            yield json.dumps({"from": token, "changes": batch})
            batch, size = [], 0
        batch.append(list(change))
        size += item_size
    if batch:
        yield json.dumps({"from": token, "changes": batch})
