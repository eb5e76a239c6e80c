"""Hasura's full list arguments as one subquery: `where`, `distinct_on`, `order_by`, `limit`,
`offset`, optionally per parent key (a relationship loaded for many parents at once), and
the aggregates (`count`, `min`, `max`, `sum`, `avg`) over the selected rows.

`distinct_on` keeps, of each distinct value, the first row in `order_by` order (what
Postgres' DISTINCT ON does when `order_by` starts with those columns, as Hasura requires).
"""
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import Subquery

from .hasura import FilterError, order_clauses, where_clause
from .reads import IN_CHUNK
from .rows import tolerant
from .tables import TABLES, api_columns, is_json

KEY = "_key"  # the parent key column of a per-parent selection
RANK = "_rank"  # a row's place within its parent's list
AGGREGATES = ("count", "min", "max", "sum", "avg")


class Selection(NamedTuple):
    """The list arguments of one field."""

    where: Optional[Dict[str, Any]] = None
    order_by: Any = None
    distinct_on: Optional[Sequence[str]] = None
    limit: Optional[int] = None
    offset: Optional[int] = None


def _columns(table_name: str, names: Optional[Sequence[str]]) -> List[str]:
    if names is None:
        return []
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in TABLES[table_name].c]
    if unknown:
        raise FilterError(f"Unknown column {unknown[0]!r} of {table_name!r}.")
    return names


def selected(table_name: str, spec: Selection, key_column: Optional[str] = None,
             keys: Optional[Sequence[Any]] = None, dialect: str = "sqlite") -> Subquery:
    """The selected rows (every column, plus `_key` and `_rank`) as a subquery."""
    table = TABLES[table_name]
    key = table.c[key_column] if key_column else sa.literal(None)
    condition = where_clause(table_name, table, spec.where, dialect=dialect)
    if key_column:
        condition = sa.and_(condition, table.c[key_column].in_(list(keys or [])))
    rows = sa.select(table, key.label(KEY)).where(condition).subquery()
    distinct = _columns(table_name, spec.distinct_on)
    if distinct:
        order = [*order_clauses(rows, spec.order_by), rows.c.created, rows.c.id]
        first = sa.func.row_number().over(partition_by=[rows.c[KEY], *(rows.c[d] for d in distinct)], order_by=order)
        ranked = sa.select(rows, first.label("_first")).subquery()
        rows = sa.select(*(ranked.c[c.name] for c in rows.c)).where(ranked.c._first == 1).subquery()
    order = [*order_clauses(rows, spec.order_by), rows.c.created, rows.c.id]
    rank = sa.func.row_number().over(partition_by=rows.c[KEY], order_by=order)
    ranked = sa.select(rows, rank.label(RANK)).subquery()
    query = sa.select(ranked)
    first_row = max(int(spec.offset or 0), 0)
    if first_row:
        query = query.where(ranked.c[RANK] > first_row)
    if spec.limit is not None:
        query = query.where(ranked.c[RANK] <= first_row + max(int(spec.limit), 0))
    return query.subquery()


def _chunks(keys: Optional[Sequence[Any]]) -> List[Optional[List[Any]]]:
    if keys is None:
        return [None]
    distinct = list(dict.fromkeys(keys))
    return [distinct[i:i + IN_CHUNK] for i in range(0, len(distinct), IN_CHUNK)]


def select_rows_by_key(conn: Connection, table_name: str, spec: Selection, key_column: Optional[str] = None,
                       keys: Optional[Sequence[Any]] = None) -> Dict[Any, List[Dict[str, Any]]]:
    """The selected rows, grouped by parent key (one group, key None, without `key_column`)."""
    names = [c.name for c in TABLES[table_name].columns]
    grouped: Dict[Any, List[Dict[str, Any]]] = {}
    for chunk in _chunks(keys):
        rows = selected(table_name, spec, key_column, chunk, conn.dialect.name)
        query = sa.select(rows.c[KEY], *(rows.c[n] for n in names)).order_by(rows.c[KEY], rows.c[RANK])
        for row in tolerant(conn, lambda: list(conn.execute(query))):
            grouped.setdefault(row[0], []).append(dict(zip(names, row[1:])))
    return grouped


def numeric_columns(table_name: str) -> List[str]:
    return [c.name for c in api_columns(TABLES[table_name])
            if isinstance(c.type, sa.Integer) and not isinstance(c.type, sa.Boolean)]


def ordered_columns(table_name: str) -> List[str]:
    """Columns min/max apply to: everything but JSON, booleans and columns the API does not show."""
    return [c.name for c in api_columns(TABLES[table_name]) if not (is_json(c) or isinstance(c.type, sa.Boolean))]


def aggregate_by_key(conn: Connection, table_name: str, spec: Selection, function: str,
                     columns: Optional[Sequence[str]] = None, distinct: bool = False,
                     key_column: Optional[str] = None, keys: Optional[Sequence[Any]] = None) -> Dict[Any, Any]:
    """`function` over the selected rows of each parent key: for `count` an int (of rows, or
    of non-null (distinct) `columns`), for the others a dict column -> value."""
    if function not in AGGREGATES:
        raise FilterError(f"Unknown aggregate {function!r}.")
    out: Dict[Any, Any] = {}
    for chunk in _chunks(keys):
        rows = selected(table_name, spec, key_column, chunk, conn.dialect.name)
        if function == "count":
            query = _count(rows, _columns(table_name, columns), distinct)
            for key, value in conn.execute(query):
                out[key] = int(value)
            continue
        names = numeric_columns(table_name) if function in ("sum", "avg") else ordered_columns(table_name)
        sql_fn = getattr(sa.func, function)
        query = sa.select(rows.c[KEY], *(sql_fn(rows.c[n]).label(n) for n in names)).group_by(rows.c[KEY])
        for row in tolerant(conn, lambda: list(conn.execute(query))):
            out[row[0]] = dict(zip(names, row[1:]))
    return out


def _count(rows: Subquery, columns: List[str], distinct: bool) -> Any:
    if not columns:
        return sa.select(rows.c[KEY], sa.func.count()).group_by(rows.c[KEY])
    present = sa.and_(*(rows.c[c].is_not(None) for c in columns))
    if not distinct:
        return sa.select(rows.c[KEY], sa.func.count()).where(present).group_by(rows.c[KEY])
    tuples = sa.select(rows.c[KEY], *(rows.c[c] for c in columns)).where(present).distinct().subquery()
    return sa.select(tuples.c[KEY], sa.func.count()).group_by(tuples.c[KEY])


def empty_aggregate(table_name: str, function: str) -> Any:
    """The aggregate of no rows: count 0, every other value null."""
    if function == "count":
        return 0
    names = numeric_columns(table_name) if function in ("sum", "avg") else ordered_columns(table_name)
    return {n: None for n in names}
