"""The store the test run gives its backends: SQLite files (the default) or PostgreSQL.

Chosen once per run by `pytest --store=sqlite|postgresql` (else `$TASKS_FLOWRUN_TEST_STORE`,
else sqlite). With postgresql the run starts a throwaway cluster of its own on first use
(`tests/postgres_cluster.py`) and removes it at the end; every `fresh_database()` is then a
new database in it. Tests give a backend `fresh_database(...)`, never a path of their own,
unless they test the SQLite file itself (`@pytest.mark.sqlite_only`, skipped on PostgreSQL).
Every other test runs on both stores, those that start no backend too: they take seconds,
and no marker can be forgotten on a test that does touch the store.
"""
import atexit
import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Set, Union

from tests.postgres_cluster import Cluster

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
STORES = (SQLITE, POSTGRESQL)
ENV_VAR = "TASKS_FLOWRUN_TEST_STORE"

Database = Union[Path, str]  # a SQLite file, or a postgresql:// URL

_store = os.environ.get(ENV_VAR) or SQLITE
_cluster: Optional[Cluster] = None
_scratch: List[Path] = []  # folders made for SQLite files asked for by name
_lock = threading.Lock()


def select(store: Optional[str]) -> str:
    """Use `store` for this run (None: `$TASKS_FLOWRUN_TEST_STORE`, else sqlite)."""
    global _store
    store = store or os.environ.get(ENV_VAR) or SQLITE
    if store not in STORES:
        raise ValueError(f"unknown store {store!r}: one of {', '.join(STORES)}")
    _store = store
    return store


def current() -> str:
    return _store


def is_postgresql() -> bool:
    return _store == POSTGRESQL


def cluster() -> Cluster:
    """The run's PostgreSQL cluster, started on first use."""
    global _cluster
    with _lock:
        if _cluster is None:
            _cluster = Cluster().start()
            atexit.register(shutdown)  # in case the run ends without pytest_unconfigure
        return _cluster


def admin_url() -> str:
    """The cluster's superuser URL (its `postgres` database)."""
    return cluster().admin_url


def shutdown() -> None:
    """Stop and remove the cluster, if one was started, and the scratch folders."""
    global _cluster
    with _lock:
        if _cluster is not None:
            _cluster.stop()
            _cluster = None
        while _scratch:
            shutil.rmtree(_scratch.pop(), ignore_errors=True)


def fresh_database(where: Union[Path, str], name: str = "backend") -> Database:
    """A database no one has used yet, for one backend.

    `where` is a temporary folder (a SQLite file `<name>.db` is made in it) or a name. With
    PostgreSQL a new database named after `name` (or `where`, when a name) is created in the
    cluster and its URL returned; the server creates the tables in either.
    """
    if is_postgresql():
        return cluster().create_database(where if isinstance(where, str) else name)
    if isinstance(where, str):
        name, folder = where, Path(tempfile.mkdtemp(prefix="tasks-flowrun-db-"))
        _scratch.append(folder)
    else:
        folder = Path(where)
        folder.mkdir(parents=True, exist_ok=True)
    path, n = folder / f"{name}.db", 1
    while path.exists():
        n += 1
        path = folder / f"{name}-{n}.db"
    return path


# --- what tests may look at directly, on either store ---------------------------------------


def connect(database: Database) -> Any:
    """A DB-API connection to `database` (sqlite3, or psycopg); parameters are `?` in `execute`."""
    if isinstance(database, str) and database.startswith("postgresql://"):
        import psycopg

        return _QmarkConnection(psycopg.connect(database))
    return sqlite3.connect(str(database), timeout=30)


def execute(database: Database, sql: str, params: Sequence[Any] = (), many: Optional[Iterable[Sequence]] = None) -> None:
    """Run one statement (with `many`: once per parameter row) and commit, as another tool
    writing into the store would."""
    conn = connect(database)
    try:
        if many is not None:
            conn.executemany(sql, list(many))
        else:
            conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def tables_of(database: Database) -> Set[str]:
    """The tables in `database` (none when the SQLite file does not exist)."""
    if isinstance(database, Path) and not database.exists():
        return set()
    conn = connect(database)
    try:
        if isinstance(conn, sqlite3.Connection):
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        else:
            rows = conn.execute("SELECT table_name FROM information_schema.tables "
                                "WHERE table_schema = current_schema()").fetchall()
        return {row[0] for row in rows}
    finally:
        conn.close()


class _QmarkConnection:
    """A psycopg connection taking SQLite's `?` placeholders (the tests' SQL is written once)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()
