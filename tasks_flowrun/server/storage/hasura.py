"""Hasura-style `where` / `order_by` arguments translated to SQL expressions.

Supported: column comparisons (`_eq _neq _gt _gte _lt _lte _in _nin _is_null _like _nlike
_ilike _nilike`, and on JSON columns `_contains` and `_has_key`),
`_and` / `_or` (lists; a single object is one element), `_not`, and relationship filters,
which for object and array relations alike mean "EXISTS a related row matching"; `order_by`
on columns and on the columns of object relations (`{flow: {name: asc}}`). Values are
always bound parameters; column and relation names come from the schema, never from input.
"""
import re
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from . import jsonsql
from .relations import RELATIONS
from .tables import TABLES


MAX_FILTER_DEPTH = 16  # nested _and/_or/_not/relationship levels in one `where`
MAX_FILTER_TERMS = 10_000  # items in one `_and`/`_or`/`_in`/`_nin` list
JSON_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")  # keys `_contains`/`_has_key` accept


class FilterError(ValueError):
    """A `where` or `order_by` argument that cannot be applied."""


def _compare(column: ColumnElement, op: str, value: Any, dialect: str) -> Optional[ColumnElement]:
    if op == "_is_null":
        return column.is_(None) if value else column.is_not(None)
    if value is None:  # Hasura ignores a comparison with null
        return None
    if op == "_eq":
        return column == value
    if op == "_neq":
        return column != value
    if op == "_gt":
        return column > value
    if op == "_gte":
        return column >= value
    if op == "_lt":
        return column < value
    if op == "_lte":
        return column <= value
    if op == "_in":
        return column.in_(list(value)) if value else sa.false()
    if op == "_nin":
        return column.not_in(list(value)) if value else sa.true()
    if op == "_like":
        return jsonsql.case_sensitive_like(column, value, dialect, like_to_glob(value))
    if op == "_nlike":
        return sa.not_(jsonsql.case_sensitive_like(column, value, dialect, like_to_glob(value)))
    if op == "_ilike":
        return column.ilike(value)
    if op == "_nilike":
        return sa.not_(column.ilike(value))
    if op == "_contains":
        _json_contains_check(value, "$")
        return jsonsql.contains(column, value, dialect, lambda: _json_contains(column, value, "$"))
    if op == "_has_key":
        _json_path("$", value)  # checks the key
        return jsonsql.has_key(column, value, dialect)
    raise FilterError(f"Unsupported comparison operator {op!r} on column {getattr(column, 'name', '?')!r}.")


def like_to_glob(pattern: Any) -> str:
    """A LIKE pattern (`%`, `_`, backslash escapes) as the case-sensitive GLOB pattern that
    matches the same strings."""
    if not isinstance(pattern, str):
        raise FilterError("A _like pattern must be a string.")
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(f"[{char}]" if char in "*?[" else char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


def _json_path(path: str, key: Any) -> str:
    """`path.key` as an SQL string literal; keys are plain names, so the literal is safe to
    inline (and an inlined path lets SQLite use indexes on json_extract expressions)."""
    if not isinstance(key, str) or not JSON_KEY.match(key):
        raise FilterError(f"Unsupported JSON key {key!r}: use letters, digits and underscores.")
    return f"'{path}.{key}'"


def _json_contains(column: ColumnElement, value: Any, path: str) -> ColumnElement:
    """Hasura's `_contains` on SQLite: objects match key by key, arrays element by element
    (`_json_contains_check` has checked the value)."""
    at: ColumnElement = sa.literal_column(f"'{path}'")
    if isinstance(value, dict):
        return sa.and_(sa.true(), *(_json_contains(column, v, _json_path(path, k)[1:-1]) for k, v in value.items()))
    if isinstance(value, list):
        parts = []
        for item in value:
            each = sa.func.json_each(column, at).table_valued("value")
            parts.append(sa.exists().select_from(each).where(each.c.value == item))
        return sa.and_(sa.func.json_type(column, at) == "array", *parts)
    if value is None:
        return sa.func.json_type(column, at) == "null"
    return sa.func.json_extract(column, at) == (int(value) if isinstance(value, bool) else value)


def _json_contains_check(value: Any, path: str) -> None:
    """The checks `_json_contains` makes (keys, depth, sizes, scalar arrays), for every store."""
    if path.count(".") > MAX_FILTER_DEPTH:
        raise FilterError(f"_contains nested too deeply: the limit is {MAX_FILTER_DEPTH} levels.")
    if isinstance(value, dict):
        for key, item in value.items():
            _json_contains_check(item, _json_path(path, key)[1:-1])
    elif isinstance(value, list):
        _count_terms(value)
        if any(isinstance(item, (dict, list)) for item in value):
            raise FilterError("_contains matches arrays of scalars only.")


def _count_terms(items: Any) -> None:
    if isinstance(items, (list, tuple)) and len(items) > MAX_FILTER_TERMS:
        raise FilterError(f"Filter too large: {len(items):,} terms in one list > limit {MAX_FILTER_TERMS:,}.")


def _as_list(value: Any) -> List[Dict[str, Any]]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def where_clause(table_name: str, source: FromClause, where: Optional[Dict[str, Any]], depth: int = 1,
                 dialect: str = "sqlite") -> ColumnElement:
    """The SQL condition for `where` on `source` (a table of `table_name`, or an alias of it).

    FilterError past MAX_FILTER_DEPTH nested `_and`/`_or`/`_not`/relation levels, and past
    MAX_FILTER_TERMS terms in one filter.
    """
    if depth > MAX_FILTER_DEPTH:
        raise FilterError(f"Filter nested too deeply: the limit is {MAX_FILTER_DEPTH} levels of "
                          "_and/_or/_not/relationships.")
    if not isinstance(where, dict):
        if where is None:
            return sa.true()
        raise FilterError(f"A filter on {table_name!r} must be an object.")
    parts: List[ColumnElement] = []
    for key, value in where.items():
        if key == "_and":
            items = _as_list(value)
            _count_terms(items)
            parts.extend(where_clause(table_name, source, item, depth + 1, dialect) for item in items)
        elif key == "_or":
            items = _as_list(value)
            _count_terms(items)
            parts.append(sa.or_(*(where_clause(table_name, source, i, depth + 1, dialect) for i in items))
                         if items else sa.false())
        elif key == "_not":
            if value is not None:
                parts.append(sa.not_(where_clause(table_name, source, value, depth + 1, dialect)))
        elif key in RELATIONS.get(table_name, {}):
            parts.append(_relation_exists(table_name, source, key, value, depth + 1, dialect))
        elif key in source.c:
            if not isinstance(value, dict):
                raise FilterError(f"The filter on column {key!r} must be an object of comparisons.")
            for op, operand in value.items():
                if op in ("_in", "_nin") and operand is not None:
                    _count_terms(operand)
                condition = _compare(source.c[key], op, operand, dialect)
                if condition is not None:
                    parts.append(condition)
        else:
            raise FilterError(f"Unknown field {key!r} in a filter on {table_name!r}.")
    return sa.and_(sa.true(), *parts)


def _relation_exists(table_name: str, source: FromClause, name: str, where: Any, depth: int, dialect: str
                     ) -> ColumnElement:
    rel = RELATIONS[table_name][name]
    target = TABLES[rel.target].alias()
    condition = where_clause(rel.target, target, where or {}, depth, dialect)
    return sa.exists().where(target.c[rel.remote] == source.c[rel.local], condition)


def order_clauses(source: FromClause, order_by: Any, table_name: Optional[str] = None, depth: int = 1
                  ) -> List[ColumnElement]:
    """ORDER BY terms for a Hasura `order_by` (an object or a list of objects): columns of
    `source`, or of its object relations (`{flow: {name: asc}}`, `table_name` names the
    table `source` reads, found from its columns when not given)."""
    table_name = table_name or _table_of(source)
    if depth > MAX_FILTER_DEPTH:
        raise FilterError(f"order_by nested too deeply: the limit is {MAX_FILTER_DEPTH} levels.")
    terms: List[ColumnElement] = []
    for item in _as_list(order_by):
        if not isinstance(item, dict):
            raise FilterError("Each order_by item must be an object such as {created: desc}.")
        for key, direction in item.items():
            relation = RELATIONS.get(table_name, {}).get(key) if table_name else None
            if relation is not None and relation.kind == "object" and isinstance(direction, dict):
                terms.extend(_related_terms(source, relation, direction, depth))
                continue
            aggregated = (RELATIONS.get(table_name, {}).get(key[:-len("_aggregate")])
                          if table_name and key.endswith("_aggregate") else None)
            if aggregated is not None and aggregated.kind == "array" and isinstance(direction, dict):
                terms.extend(_aggregate_terms(source, aggregated, direction))
                continue
            if key not in source.c or isinstance(direction, dict):
                raise FilterError(f"Cannot order by {key!r}: not a column or an object relationship.")
            terms.append(_directed(source.c[key], direction))
    return terms


def _directed(column: ColumnElement, direction: Any) -> ColumnElement:
    """A term with Hasura's (Postgres') null order: last ascending, first descending unless
    `_nulls_first`/`_nulls_last` says otherwise. NOT NULL columns get no null clause, which
    would keep SQLite from walking an index in order."""
    direction = str(direction)
    descending = direction.startswith("desc")
    term = column.desc() if descending else column.asc()
    if not getattr(column, "nullable", True):
        return term
    if direction.endswith("nulls_first") or (descending and not direction.endswith("nulls_last")):
        return term.nulls_first()
    return term.nulls_last()


def _related_terms(source: FromClause, relation: Any, order_by: Dict[str, Any], depth: int) -> List[ColumnElement]:
    """Order by the columns of an object relation: one correlated scalar subquery per column."""
    target = TABLES[relation.target].alias()
    terms = []
    for term in order_clauses(target, order_by, relation.target, depth + 1):
        element, modifiers = term, []
        while hasattr(element, "modifier") and hasattr(element, "element"):
            modifiers.append(element.modifier)
            element = element.element
        value: Any = (sa.select(element).where(target.c[relation.remote] == source.c[relation.local])
                      .limit(1).scalar_subquery())
        for modifier in reversed(modifiers):
            value = sa.sql.elements.UnaryExpression(value, modifier=modifier)
        terms.append(value)
    return terms


AGGREGATE_ORDERS = ("count", "min", "max", "sum", "avg")


def _aggregate_terms(source: FromClause, relation: Any, order_by: Dict[str, Any]) -> List[ColumnElement]:
    """Order by an aggregate of an array relation's rows (`{runs_aggregate: {count: desc}}`,
    `{runs_aggregate: {max: {created: asc}}}`): one correlated scalar subquery per term."""
    target = TABLES[relation.target].alias()
    related = target.c[relation.remote] == source.c[relation.local]
    terms = []
    for function, spec in order_by.items():
        if function not in AGGREGATE_ORDERS:
            raise FilterError(f"Cannot order by aggregate {function!r}: use one of {', '.join(AGGREGATE_ORDERS)}.")
        if function == "count":
            value = sa.select(sa.func.count()).where(related).scalar_subquery()
            terms.append(_directed(value, spec))
            continue
        if not isinstance(spec, dict):
            raise FilterError(f"Order by {function} needs columns, e.g. {{{function}: {{created: desc}}}}.")
        for column, direction in spec.items():
            if column not in target.c:
                raise FilterError(f"Cannot order by {function} of {column!r}: not a column of {relation.target!r}.")
            value = sa.select(getattr(sa.func, function)(target.c[column])).where(related).scalar_subquery()
            terms.append(_directed(value, direction))
    return terms


def _table_of(source: FromClause) -> Optional[str]:
    name = getattr(getattr(source, "element", source), "name", None)
    return name if name in TABLES else None
