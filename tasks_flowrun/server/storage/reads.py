"""Generic reads: rows of a table filtered and ordered Hasura-style."""
from typing import Any, Dict, List, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .hasura import order_clauses, where_clause
from .rows import tolerant
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
    query = sa.select(table).where(where_clause(table_name, table, where, dialect=conn.dialect.name))
    for column, value in (extra or {}).items():
        query = query.where(table.c[column] == value)
    terms = order_clauses(table, order_by) if order_by else []
    query = query.order_by(*terms, table.c.created, table.c.id)
    if limit is not None:
        query = query.limit(max(int(limit), 0))
    if offset and int(offset) > 0:  # a negative offset skips nothing (on every store)
        query = query.offset(int(offset))
    return tolerant(conn, lambda: [dict(row._mapping) for row in conn.execute(query)])



IN_CHUNK = 500  # values per `IN (...)` list, well under SQLite's bound-parameter limit


def select_related(
    conn: Connection, table_name: str, column: str, values: Sequence[Any], where: Optional[Dict[str, Any]] = None,
    order_by: Any = None, limit: Optional[int] = None, offset: Optional[int] = None,
) -> List[Dict[str, Any]]:
    """Rows whose `column` is one of `values` (the batch load of a relationship for many
    parent rows), in order within each `column` value; `limit` and `offset` apply to each
    value separately, as they would to each parent's own list."""
    table = TABLES[table_name]
    terms = [*(order_clauses(table, order_by) if order_by else []), table.c.created, table.c.id]
    condition = where_clause(table_name, table, where, dialect=conn.dialect.name)
    rows: List[Dict[str, Any]] = []
    distinct = list(dict.fromkeys(values))
    for start in range(0, len(distinct), IN_CHUNK):
        chunk = distinct[start:start + IN_CHUNK]
        if limit is None and not offset:
            query = sa.select(table).where(table.c[column].in_(chunk), condition).order_by(*terms)
        else:
            rank = sa.func.row_number().over(partition_by=table.c[column], order_by=terms).label("_rank")
            ranked = sa.select(table, rank).where(table.c[column].in_(chunk), condition).subquery()
            first = max(int(offset or 0), 0)
            query = sa.select(*[ranked.c[c.name] for c in table.columns]).where(ranked.c._rank > first)
            if limit is not None:
                query = query.where(ranked.c._rank <= first + max(int(limit), 0))
            query = query.order_by(ranked.c[column], ranked.c._rank)
        rows.extend(tolerant(conn, lambda: [dict(row._mapping) for row in conn.execute(query)]))
    return rows
