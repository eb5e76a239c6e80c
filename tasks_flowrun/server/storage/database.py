"""The backend's database: what both stores offer (reads, serialized-or-locked write
transactions, the change feed, leadership of the background services); `stores.py`'s
`open_database` picks the store from the `--database` value.

- SQLite (`sqlite_store.py`): a file, one writer at a time, one server process.
- PostgreSQL (`postgres_store.py`): a `postgresql://` URL; any number of server processes
  on one database, writes from all of them at once.

Domain functions see only a SQLAlchemy `Connection` inside `read()` or `write()`; the
statements they run (storage/) are written once for both stores (`jsonsql.py` spells the
few that differ).
"""
import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Tuple

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from ..change_feed import STATE, ChangeFeed
from .migrations import SchemaUpgrade
from .presence import Peer

_CHANGES = "tasks_flowrun.changes"  # the flow runs a write transaction changed
_AFTER_COMMIT = "tasks_flowrun.after_commit"  # what to do once it has committed
logger = logging.getLogger("tasks_flowrun.server")


_SQLITE_UNAVAILABLE = ("locked", "busy", "disk i/o", "unable to open", "readonly")


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be used right now (unreachable, shutting
    down, out of connections, busy), so the same request may succeed if sent again; not a
    statement refused on its merits (nor one the request's own budget interrupted)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.PendingRollbackError):  # its connection was lost mid-transaction
        return True
    if not isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return False
    orig = getattr(exc, "orig", None) or exc
    if type(orig).__module__.startswith("sqlite3"):
        return any(marker in str(orig).lower() for marker in _SQLITE_UNAVAILABLE)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is None:  # no answer from the server at all: the connection failed
        return True
    # connection exceptions, the server shutting down or not accepting connections, too many connections
    return sqlstate.startswith(("08", "57P")) or sqlstate == "53300"


def note_change(conn: Connection, flow_run_id: str, kind: str = STATE, due: Optional[str] = None) -> None:
    """Note, in the current write transaction, that a flow run's state changed (or it got
    logs, was deleted, or entered a queue state: `kind`, see `server/change_feed.py`; a QUEUE
    note says when the run is due, `due` as stored timestamp text, default now): published
    to the database's `changes` feed once the transaction commits (on PostgreSQL, to every
    server process on the database)."""
    conn.info.setdefault(_CHANGES, []).append((flow_run_id, kind) if due is None else (flow_run_id, kind, due))


def take_changes(conn: Connection) -> List[Tuple[str, ...]]:
    """The changes noted in this transaction (and forget them)."""
    return conn.info.pop(_CHANGES, None) or []


def after_commit(conn: Connection, callback: Callable[["Database"], None]) -> None:
    """Call `callback(database)` once the current write transaction has committed, never if
    it rolls back. It runs in the committing request's thread: hand slow work to a thread."""
    conn.info.setdefault(_AFTER_COMMIT, []).append(callback)


def forget_noted(conn: Connection) -> None:
    """Drop what a transaction noted (changes, after-commit callbacks): it rolled back, or
    the pooled connection still holds an earlier transaction's notes."""
    if conn.invalidated:  # the database dropped it (restart, failover): it is discarded, notes and all
        return
    try:
        info = conn.info
    except sa_exc.PendingRollbackError:  # lost mid-transaction: the same
        return
    info.pop(_CHANGES, None)
    info.pop(_AFTER_COMMIT, None)


def take_after_commit(conn: Connection) -> List[Callable[["Database"], None]]:
    """The callbacks registered in this transaction (and forget them)."""
    return conn.info.pop(_AFTER_COMMIT, None) or []


def run_after_commit(db: "Database", callbacks: List[Callable[["Database"], None]]) -> None:
    """Run committed callbacks; one failing never affects the others or the request."""
    for callback in callbacks:
        try:
            callback(db)
        except Exception:
            logger.exception("An after-commit callback failed")


class Database:
    """A store shared by all request threads of the process; `changes` tells the flow runs
    that committed writes changed (see `server/change_feed.py`)."""

    engine: Engine
    store = ""  # "sqlite" or "postgresql"
    schema_upgrade: Optional[SchemaUpgrade] = None  # what opening did, for the start line

    def __init__(self) -> None:
        self.changes = ChangeFeed()

    @property
    def description(self) -> str:
        """Where the data lives, for the start line (no password)."""
        raise NotImplementedError

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed (durably) on exit, rolled back on error; what it
        noted with `note_change` is published once committed."""
        raise NotImplementedError
        yield  # pragma: no cover

    def share_polls(self, polls: Any) -> None:
        """Share the flow runs' self-polls (`api.liveness.RunnerPolls`) with the other server
        processes on the database (nothing to do with one process)."""

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    # -- the server processes sharing the database (see availability.py) -----------------

    shares_processes = False  # whether several server processes may use this database

    def watch_availability(self, availability: Any) -> None:
        """Tell `availability` (an `availability.Availability`) when a part of this store
        that carries flow runs' signs of life fails and recovers (nothing to tell with one
        process)."""

    def report_presence(self, available_for: Optional[float], gap_reason: Optional[str]) -> None:
        """Prove the database answers (raise if not); where several processes share it, also
        record that this one is up and has heard flow runs for `available_for` seconds
        (None: it cannot now)."""
        self.ping()

    def peers(self) -> List[Peer]:
        """What the other server processes on the database last reported (none here)."""
        return []

    def drop_peers(self, process_ids: List[str]) -> None:
        """Forget processes judged gone."""

    def leads(self) -> bool:
        """Whether this process runs the background services (schedules, recovery): always
        on SQLite; on PostgreSQL one process at a time holds the lead."""
        return True

    def dispose(self) -> None:
        self.engine.dispose()
