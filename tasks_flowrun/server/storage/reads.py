"""Generic reads: rows of a table filtered and ordered Hasura-style."""
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .hasura import order_clauses, where_clause
from .rows import fetch_row
from .tables import TABLES


def select_rows(
    conn: Connection,
    table_name: str,
    where: Optional[Dict[str, Any]] = None,
    order_by: Any = None,
    limit: Optional[int] = None,
    offset: Optional[int] = None,
    extra: Optional[Dict[str, Any]] = None,
) -> List[Dict[str, Any]]:
    """Rows of `table_name` matching `where` (and column equalities in `extra`), as dicts.

    Without `order_by` rows come in creation order, which is deterministic.
    """
    table = TABLES[table_name]
    query = sa.select(table).where(where_clause(table_name, table, where))
    for column, value in (extra or {}).items():
        query = query.where(table.c[column] == value)
    terms = order_clauses(table, order_by) if order_by else []
    query = query.order_by(*terms, table.c.created, table.c.id)
    if limit is not None:
        query = query.limit(max(int(limit), 0))
    if offset:
        query = query.offset(int(offset))
    return [dict(row._mapping) for row in conn.execute(query)]


def get_row(conn: Connection, table_name: str, **equal: Any) -> Optional[Dict[str, Any]]:
    """The one row whose columns equal `equal`, or None."""
    return fetch_row(conn, table_name, **equal)


def select_related(
    conn: Connection, table_name: str, column: str, values: List[Any], where: Optional[Dict[str, Any]] = None,
    order_by: Any = None,
) -> List[Dict[str, Any]]:
    """Rows whose `column` is one of `values` (batch load of a relationship)."""
    table = TABLES[table_name]
    query = sa.select(table).where(table.c[column].in_(values), where_clause(table_name, table, where))
    terms = order_clauses(table, order_by) if order_by else []
    query = query.order_by(*terms, table.c.created, table.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]
