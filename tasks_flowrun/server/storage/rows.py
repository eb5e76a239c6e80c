"""Row access by column values: inserts (optionally skipping a duplicate of a unique key),
updates and deletes by id, reads by equality, for both stores.

Every statement is SQLAlchemy Core on the tables of `tables.py` (the column types do the
JSON and boolean encoding), built once per table and column set and cached; every value is
a bound parameter.
"""
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .tables import TABLES

logger = logging.getLogger("tasks_flowrun.server")

DEFAULT_ORDER = ("created", "id")


class ConstraintError(ValueError):
    """A write the database refused (NOT NULL, UNIQUE, CHECK); the message names the constraint."""


class ConnectionClosed(RuntimeError):
    """The driver connection under a SQLAlchemy connection is gone."""


def _refused(table_name: str, what: str, exc: sa.exc.IntegrityError) -> ConstraintError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    return ConstraintError(f"The {table_name} {what} was refused by the database: {reason}.")


def _replace_bad_utf8(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def tolerant(conn: Connection, read: Callable[[], Any]) -> Any:
    """`read()`, run again with invalid UTF-8 replaced (U+FFFD) if a text stored in a SQLite
    file is not UTF-8 (a row written by another tool), so one bad row never fails a whole
    read. (PostgreSQL refuses invalid UTF-8 when it is written.)"""
    try:
        return read()
    except (sqlite3.OperationalError, sa.exc.OperationalError) as exc:
        if "decode" not in str(exc) or conn.dialect.name != "sqlite":
            raise
    raw = conn.connection.driver_connection
    if raw is None:
        raise ConnectionClosed("the database connection is closed")
    logger.warning("Text that is not UTF-8 read from the database; invalid bytes replaced")
    raw.text_factory = _replace_bad_utf8
    try:
        return read()
    finally:
        raw.text_factory = str


PROGRESS_STEPS = 5_000  # SQLite VM steps between two checks of `should_stop`
CANCEL_CHECK_SECONDS = 0.25  # how often running PostgreSQL statements' requests are asked


class _Cancellations:
    """One thread for the whole process that asks every request inside `interruptible` on
    PostgreSQL whether it must stop, and cancels its running statement if so (PostgreSQL
    runs the statement in another process: only a cancel request stops it)."""

    def __init__(self) -> None:
        self._watched: Dict[int, Tuple[Any, Callable[[], bool]]] = {}
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def watch(self, raw: Any, should_stop: Callable[[], bool]) -> int:
        with self._lock:
            key = id(raw)
            self._watched[key] = (raw, should_stop)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="tasks-flowrun-cancel", daemon=True)
                self._thread.start()
            return key

    def forget(self, key: int) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def _loop(self) -> None:
        while True:
            time.sleep(CANCEL_CHECK_SECONDS)
            # under the lock: a request ending meanwhile waits in `forget`, so its connection
            # is never back in the pool (and another request's) while its cancel is sent
            with self._lock:
                for key, (raw, stop) in list(self._watched.items()):
                    if stop():
                        self._watched.pop(key, None)
                        try:
                            raw.cancel()
                        except Exception:  # the connection is gone already: nothing runs
                            pass


_cancellations = _Cancellations()


@contextmanager
def interruptible(conn: Connection, should_stop: Callable[[], bool]) -> Iterator[None]:
    """While inside, a statement on `conn` fails (an OperationalError) soon after
    `should_stop()` turns true (the request's time budget is spent, or its client left).
    On SQLite a progress handler asks `should_stop` as the statement runs; on PostgreSQL a
    watcher asks it every CANCEL_CHECK_SECONDS and cancels the running statement (and
    `statement_timeout` bounds every statement besides)."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise ConnectionClosed("the database connection is closed")
    if conn.dialect.name != "sqlite":
        key = _cancellations.watch(raw, should_stop)
        try:
            yield
        finally:
            _cancellations.forget(key)
        return
    raw.set_progress_handler(lambda: 1 if should_stop() else 0, PROGRESS_STEPS)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


@lru_cache(maxsize=None)
def _insert(dialect: str, table_name: str, conflict_target: Tuple[str, ...]) -> Any:
    table = TABLES[table_name]
    if not conflict_target:
        return table.insert()
    # Only a duplicate of exactly this unique key is skipped; NOT NULL and CHECK still fail.
    # RETURNING tells an inserted row from a skipped one (drivers' rowcounts differ here).
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return insert.on_conflict_do_nothing(index_elements=list(conflict_target)).returning(table.c.id)


def insert_rows(conn: Connection, table_name: str, rows: List[Dict[str, Any]],
                conflict_target: Sequence[str] = ()) -> int:
    """Insert rows that all have the same keys; returns how many were inserted.

    With `conflict_target` (the columns of a unique constraint), a row duplicating an
    existing one on those columns is skipped; any other constraint violation raises
    ConstraintError.
    """
    if not rows:
        return 0
    statement = _insert(conn.dialect.name, table_name, tuple(conflict_target))
    try:
        if not conflict_target:
            conn.execute(statement, rows[0] if len(rows) == 1 else rows)
            return len(rows)
        return sum(conn.execute(statement, row).first() is not None for row in rows)
    except sa.exc.IntegrityError as exc:
        raise _refused(table_name, "row", exc) from None


@lru_cache(maxsize=None)
def _update(table_name: str) -> Any:
    table = TABLES[table_name]
    return table.update().where(table.c.id == sa.bindparam("_row_id"))  # SET: the columns given


def update_row(conn: Connection, table_name: str, row_id: str, values: Dict[str, Any]) -> int:
    """Set `values` on the row with this id; returns 1 if it exists, else 0."""
    statement = _update(table_name)
    try:
        return conn.execute(statement, {**values, "_row_id": row_id}).rowcount
    except sa.exc.IntegrityError as exc:
        raise _refused(table_name, "update", exc) from None


@lru_cache(maxsize=None)
def _select(table_name: str, columns: Tuple[str, ...], equal: Tuple[Tuple[str, bool], ...],
            order: Tuple[str, ...], limited: bool, lock: Union[bool, str]) -> Any:
    table = TABLES[table_name]
    query = sa.select(*(table.c[c] for c in columns))
    for column, is_null in equal:
        query = query.where(table.c[column].is_(None) if is_null else table.c[column] == sa.bindparam(column))
    query = query.order_by(*(table.c[c] for c in order))
    if limited:
        query = query.limit(sa.bindparam("_limit"))
    if lock:
        query = query.with_for_update(read=lock == "share")
    return query


def fetch_rows(conn: Connection, table_name: str, columns: Optional[Iterable[str]] = None,
               order: Sequence[str] = DEFAULT_ORDER, limit: Optional[int] = None, lock: Union[bool, str] = False,
               **equal: Any) -> List[Dict[str, Any]]:
    """Rows whose columns equal `equal` (None matches NULL), with the chosen columns, in
    `order` (column names, ascending).

    `lock=True` locks the rows until the transaction ends (`FOR UPDATE` on PostgreSQL, where
    several processes write at once; SQLite serializes whole write transactions anyway):
    read them this way before a decision that must not race (a state change, a version).
    `lock="share"` (`FOR SHARE`) lets other such readers through and holds back writers
    that lock the rows (e.g. a parent run's cancellation while its children are created).
    """
    names = tuple(columns) if columns else tuple(c.name for c in TABLES[table_name].columns)
    query = _select(table_name, names, tuple((c, v is None) for c, v in equal.items()), tuple(order),
                    limit is not None, lock)
    params = {c: v for c, v in equal.items() if v is not None}
    if limit is not None:
        params["_limit"] = int(limit)
    return tolerant(conn, lambda: [dict(zip(names, row)) for row in conn.execute(query, params)])


def fetch_row(conn: Connection, table_name: str, columns: Optional[Iterable[str]] = None,
              lock: Union[bool, str] = False, **equal: Any) -> Optional[Dict[str, Any]]:
    rows = fetch_rows(conn, table_name, columns, limit=1, lock=lock, **equal)
    return rows[0] if rows else None


def delete_rows(conn: Connection, table_name: str, column: str, values: Sequence[Any]) -> int:
    """Delete the rows whose `column` is one of `values`."""
    if not values:
        return 0
    table = TABLES[table_name]
    deleted = 0
    for start in range(0, len(values), 500):  # well under SQLite's bound-parameter limit
        chunk = list(values[start:start + 500])
        deleted += conn.execute(table.delete().where(table.c[column].in_(chunk))).rowcount
    return deleted
