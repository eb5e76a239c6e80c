"""The SQLite database: engine, pragmas, schema creation and the single-writer discipline.

Writes go through `Database.write()`, which holds a process-wide lock for the whole
transaction: SQLite allows one writer anyway, and holding the lock makes every
read-check-insert inside a transaction atomic (no duplicate from concurrent requests).
`synchronous=FULL` makes a commit durable before the response is sent.
"""
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .jsontext import loads_stored
from ..changes import STATE, ChangeFeed
from .runs import PARENT_EXPRESSION
from .migrations import SchemaUpgrade, prepare_schema

# Indexes on expressions, which the table definitions cannot express portably, and indexes
# added after the first release; created if missing, so older databases get them too
# (the ones that existed when schema versions began are also in migration 0001).
EXPRESSION_INDEXES = (
    f"CREATE INDEX IF NOT EXISTS ix_flow_run_parent ON flow_run ({PARENT_EXPRESSION})",
    # newest-first run lists (the web page) page through this instead of sorting every run
    "CREATE INDEX IF NOT EXISTS ix_flow_run_created ON flow_run (created, id)",
    # a retry's or restart's look-up of the run made with its key: one row, however many
    # runs the child flow has (the flow_id index alone would walk all of them)
    "CREATE INDEX IF NOT EXISTS ix_flow_run_idempotency ON flow_run (idempotency_key)",
    # a wait's log tail: a run's newest lines without sorting all of them
    "CREATE INDEX IF NOT EXISTS ix_log_run_time ON log (flow_run_id, timestamp)",
)


def _configure(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=OFF")
    # Keep hot index pages in SQLite's own cache (64 MiB per connection) rather than relying
    # on the OS page cache, which a small VM may evict at any time.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()
    # Let SQLAlchemy's begin() control transactions (pysqlite's own handling is disabled).
    dbapi_conn.isolation_level = None



_CHANGES = "tasks_flowrun.changes"  # the flow runs a write transaction changed


def note_change(conn: Connection, flow_run_id: str, kind: str = STATE) -> None:
    """Note, in the current write transaction, that a flow run's state (or its logs) changed:
    published to the database's `changes` feed once the transaction commits."""
    conn.info.setdefault(_CHANGES, []).append((flow_run_id, kind))


class Database:
    """One SQLite file, shared by all request threads of the process; `changes` tells the
    flow runs that committed writes changed (see `server/changes.py`)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(
            f"sqlite+pysqlite:///{self.path}",
            connect_args={"check_same_thread": False, "timeout": 15},
            pool_size=8,
            max_overflow=32,
            json_deserializer=loads_stored,  # a bad stored value reads as null, never fails the request
        )
        sa.event.listen(self.engine, "connect", _configure)
        self._write_lock = threading.RLock()
        self.changes = ChangeFeed()
        # the schema at the newest revision (migrations/); what was done, for the start line
        try:
            self.schema_upgrade: Optional[SchemaUpgrade] = prepare_schema(self.engine, self.path)
        except BaseException:
            self.engine.dispose()
            raise
        with self.engine.begin() as conn:
            for statement in EXPRESSION_INDEXES:
                conn.exec_driver_sql(statement)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (a consistent WAL snapshot per statement)."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A serialized write transaction: committed (durably) on exit, rolled back on error."""
        with self._write_lock:
            with self.engine.connect() as conn:
                conn.info[_CHANGES] = []
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.info.pop(_CHANGES, None)
                    # SQLite may already have rolled back (e.g. an interrupted statement)
                    raw = conn.connection.driver_connection
                    if raw is not None and raw.in_transaction:
                        conn.exec_driver_sql("ROLLBACK")
                    raise
                else:
                    conn.exec_driver_sql("COMMIT")
                    noted = conn.info.pop(_CHANGES, None)
                    if noted:
                        self.changes.publish(noted)

    def dispose(self) -> None:
        self.engine.dispose()
