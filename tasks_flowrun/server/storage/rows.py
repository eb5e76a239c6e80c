"""Fast row access for the hot paths (run creation, state changes): parameterized SQL on the
driver connection, with statement text cached per table and column set.

Table and column names come from the schema in `tables.py`, never from a request; every
value is a bound parameter.
"""
import json
import logging
import sqlite3
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .jsontext import loads_stored
from .tables import TABLES

logger = logging.getLogger("tasks_flowrun.server")


class ConstraintError(ValueError):
    """A write the database refused (NOT NULL, UNIQUE, CHECK); the message names the constraint."""


class ConnectionClosed(RuntimeError):
    """The driver connection under a SQLAlchemy connection is gone."""


@lru_cache(maxsize=None)
def _kinds(table_name: str) -> Dict[str, str]:
    kinds = {}
    for column in TABLES[table_name].columns:
        if isinstance(column.type, sa.JSON):
            kinds[column.name] = "json"
        elif isinstance(column.type, sa.Boolean):
            kinds[column.name] = "bool"
        else:
            kinds[column.name] = "plain"
    return kinds


def _encode(table_name: str, column: str, value: Any) -> Any:
    kind = _kinds(table_name)[column]
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value)
    if kind == "bool":
        return 1 if value else 0
    return value


def _decode(table_name: str, columns: Sequence[str], row: Sequence[Any]) -> Dict[str, Any]:
    kinds = _kinds(table_name)
    out = {}
    for column, value in zip(columns, row):
        kind = kinds[column]
        if value is not None and kind == "json":
            value = loads_stored(value, f"{table_name}.{column}")
        elif value is not None and kind == "bool":
            value = bool(value)
        out[column] = value
    return out


def _cursor(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    if raw is None:
        raise ConnectionClosed("the database connection is closed")
    return raw.cursor()


def _replace_bad_utf8(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def tolerant(conn: Connection, read: Callable[[], Any]) -> Any:
    """`read()`, run again with invalid UTF-8 replaced (U+FFFD) if a stored text is not
    UTF-8 (a row written by another tool), so one bad row never fails a whole read."""
    try:
        return read()
    except (sqlite3.OperationalError, sa.exc.OperationalError) as exc:
        if "decode" not in str(exc):
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


@contextmanager
def interruptible(conn: Connection, should_stop: Callable[[], bool]) -> Iterator[None]:
    """While inside, a statement on `conn` fails (sqlite3.OperationalError) soon after
    `should_stop()` turns true; the handler is removed on exit."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise ConnectionClosed("the database connection is closed")
    raw.set_progress_handler(lambda: 1 if should_stop() else 0, PROGRESS_STEPS)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


@lru_cache(maxsize=None)
def _insert_sql(table_name: str, columns: Tuple[str, ...], conflict_target: Tuple[str, ...]) -> str:
    sql = f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    if conflict_target:
        # Only a duplicate of exactly this unique key is skipped; NOT NULL and CHECK still fail.
        sql += f" ON CONFLICT ({', '.join(conflict_target)}) DO NOTHING"
    return sql


def insert_rows(conn: Connection, table_name: str, rows: List[Dict[str, Any]],
                conflict_target: Sequence[str] = ()) -> int:
    """Insert rows that all have the same keys; returns how many were inserted.

    With `conflict_target` (the columns of a unique constraint), a row duplicating an
    existing one on those columns is skipped; any other constraint violation raises
    ConstraintError.
    """
    if not rows:
        return 0
    columns = tuple(rows[0])
    sql = _insert_sql(table_name, columns, tuple(conflict_target))
    params = [tuple(_encode(table_name, c, row[c]) for c in columns) for row in rows]
    cursor = _cursor(conn)
    try:
        if len(params) == 1:
            cursor.execute(sql, params[0])
        else:
            cursor.executemany(sql, params)
    except sqlite3.IntegrityError as exc:
        raise ConstraintError(f"The {table_name} row was refused by the database: {exc}.") from None
    return cursor.rowcount


def update_row(conn: Connection, table_name: str, row_id: str, values: Dict[str, Any]) -> int:
    """Set `values` on the row with this id; returns 1 if it exists, else 0."""
    columns = tuple(values)
    sql = f"UPDATE {table_name} SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"
    cursor = _cursor(conn)
    try:
        cursor.execute(sql, tuple(_encode(table_name, c, values[c]) for c in columns) + (row_id,))
    except sqlite3.IntegrityError as exc:
        raise ConstraintError(f"The {table_name} update was refused by the database: {exc}.") from None
    return cursor.rowcount


def fetch_rows(conn: Connection, table_name: str, columns: Optional[Iterable[str]] = None,
               order: str = "created, id", limit: Optional[int] = None, **equal: Any) -> List[Dict[str, Any]]:
    """Rows whose columns equal `equal` (None matches NULL), with the chosen columns."""
    names = tuple(columns) if columns else tuple(c.name for c in TABLES[table_name].columns)
    conditions = [f"{c} IS NULL" if v is None else f"{c} = ?" for c, v in equal.items()]
    sql = f"SELECT {', '.join(names)} FROM {table_name}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    params = tuple(_encode(table_name, c, v) for c, v in equal.items() if v is not None)

    def read() -> List[Any]:
        cursor = _cursor(conn)
        cursor.execute(sql, params)
        return cursor.fetchall()

    return [_decode(table_name, names, row) for row in tolerant(conn, read)]


def fetch_row(conn: Connection, table_name: str, columns: Optional[Iterable[str]] = None, **equal: Any
              ) -> Optional[Dict[str, Any]]:
    rows = fetch_rows(conn, table_name, columns, limit=1, **equal)
    return rows[0] if rows else None


def delete_rows(conn: Connection, table_name: str, column: str, values: Sequence[Any]) -> int:
    """Delete the rows whose `column` is one of `values`."""
    if not values:
        return 0
    sql = f"DELETE FROM {table_name} WHERE {column} IN ({', '.join('?' * len(values))})"
    cursor = _cursor(conn)
    cursor.execute(sql, tuple(values))
    return cursor.rowcount
