"""The SQLite store: engine, pragmas and the single-writer discipline.

Writes go through `write()`, which holds a process-wide lock for the whole transaction:
SQLite allows one writer anyway, and holding the lock makes every read-check-insert inside
a transaction atomic (no duplicate from concurrent requests).

Durability (`synchronous`): in WAL mode, NORMAL (the default) keeps every committed
transaction across any crash or kill of the server process (the commit is in the WAL, which
the OS holds); only an OS crash or power cut may lose the last commits before a checkpoint.
FULL also syncs the WAL to disk at every commit (about a millisecond on an SSD, which caps
one client at a few hundred writes per second) and survives power loss.
"""
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .database import Database, forget_noted, run_after_commit, take_after_commit, take_changes
from .migrations import prepare_schema


SYNCHRONOUS_MODES = ("normal", "full")


def _configure(dbapi_conn, synchronous: str) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=OFF")
    # Keep hot index pages in SQLite's own cache (64 MiB per connection) rather than relying
    # on the OS page cache, which a small VM may evict at any time.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()
    # Let our own BEGIN/COMMIT control transactions (pysqlite's own handling is disabled).
    dbapi_conn.isolation_level = None


class SQLiteDatabase(Database):
    """One SQLite file, shared by all request threads of one process."""

    store = "sqlite"

    def __init__(self, path: Path, synchronous: str = "normal") -> None:
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"SQLite synchronous mode must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}")
        super().__init__()
        self.synchronous = synchronous
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(
            f"sqlite+pysqlite:///{self.path}",
            connect_args={"check_same_thread": False, "timeout": 15},
            pool_size=8,
            max_overflow=32,
        )
        sa.event.listen(self.engine, "connect", lambda conn, _record: _configure(conn, synchronous))
        self._write_lock = threading.RLock()
        try:
            self.schema_upgrade = prepare_schema(self.engine, self.path)
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def description(self) -> str:
        return str(self.path)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A serialized write transaction: committed (durably) on exit, rolled back on error."""
        with self._write_lock:
            with self.engine.connect() as conn:
                forget_noted(conn)
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    forget_noted(conn)
                    # SQLite may already have rolled back (e.g. an interrupted statement)
                    raw = conn.connection.driver_connection
                    if raw is not None and raw.in_transaction:
                        conn.exec_driver_sql("ROLLBACK")
                    raise
                else:
                    conn.exec_driver_sql("COMMIT")
                    noted = take_changes(conn)
                    if noted:
                        self.changes.publish(noted)
                    run_after_commit(self, take_after_commit(conn))
