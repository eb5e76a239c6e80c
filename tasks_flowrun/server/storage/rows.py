"""Fast row access for the hot paths (run creation, state changes): parameterized SQL on the
driver connection, with statement text cached per table and column set.

Table and column names come from the schema in `tables.py`, never from a request; every
value is a bound parameter.
"""
import json
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .tables import TABLES


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
            value = json.loads(value)
        elif value is not None and kind == "bool":
            value = bool(value)
        out[column] = value
    return out


def _cursor(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    assert raw is not None, "the connection is closed"
    return raw.cursor()


@lru_cache(maxsize=None)
def _insert_sql(table_name: str, columns: Tuple[str, ...], on_conflict_ignore: bool) -> str:
    verb = "INSERT OR IGNORE" if on_conflict_ignore else "INSERT"
    return f"{verb} INTO {table_name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def insert_rows(conn: Connection, table_name: str, rows: List[Dict[str, Any]], ignore_conflicts: bool = False) -> int:
    """Insert rows that all have the same keys; returns how many were inserted."""
    if not rows:
        return 0
    columns = tuple(rows[0])
    sql = _insert_sql(table_name, columns, ignore_conflicts)
    params = [tuple(_encode(table_name, c, row[c]) for c in columns) for row in rows]
    cursor = _cursor(conn)
    if len(params) == 1:
        cursor.execute(sql, params[0])
    else:
        cursor.executemany(sql, params)
    return cursor.rowcount


def update_row(conn: Connection, table_name: str, row_id: str, values: Dict[str, Any]) -> int:
    """Set `values` on the row with this id; returns 1 if it exists, else 0."""
    columns = tuple(values)
    sql = f"UPDATE {table_name} SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"
    cursor = _cursor(conn)
    cursor.execute(sql, tuple(_encode(table_name, c, values[c]) for c in columns) + (row_id,))
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
    cursor = _cursor(conn)
    cursor.execute(sql, params)
    return [_decode(table_name, names, row) for row in cursor.fetchall()]


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
