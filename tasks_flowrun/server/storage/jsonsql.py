"""JSON inside SQL, spelled for each store.

JSON columns hold JSON text on both stores (`tables.JSONText`). SQLite reads into it with
its JSON functions (`json_extract`, `json_each`); PostgreSQL casts the text to `jsonb` and
uses its operators (`->>`, `@>`, `<@`, `?`). Each function takes the dialect name of the
connection the statement will run on. JSON keys and paths are inlined only after
`hasura.JSON_KEY`-style checks by the caller; values are always bound parameters.
"""
import json
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

POSTGRESQL = "postgresql"

# A child's parent, as the plugin records it in the child's context; `key_text` of it is
# spelled as the parent index of migrations 0001/0004 is built, so look-ups use the index.
PARENT_KEY = "parent_flow_run_id"


def _jsonb(column: ColumnElement) -> ColumnElement:
    """The JSON text as jsonb; invalid JSON (written by another tool) reads as NULL rather
    than failing the statement (the function is made by migration 0004)."""
    return sa.func.tasks_flowrun_jsonb(column, type_=JSONB)


def key_text(column: ColumnElement, key: str, dialect: str) -> ColumnElement:
    """The value of top-level `key` of a JSON object column (a string as text). Spelled as
    the parent index is (a plain cast: a row that is not JSON cannot be written there)."""
    if dialect == POSTGRESQL:
        return sa.cast(column, JSONB).op("->>")(sa.literal_column(f"'{key}'"))
    return sa.func.json_extract(column, sa.literal_column(f"'$.{key}'"))


def contains(column: ColumnElement, value: Any, dialect: str, sqlite_form: Any) -> ColumnElement:
    """Hasura's `_contains`: PostgreSQL's own `jsonb @>`; on SQLite the expression
    `sqlite_form()` builds (objects key by key, arrays element by element)."""
    if dialect == POSTGRESQL:
        return _jsonb(column).op("@>")(sa.cast(sa.literal(json.dumps(value), sa.Text), JSONB))
    return sqlite_form()


def has_key(column: ColumnElement, key: str, dialect: str) -> ColumnElement:
    """Hasura's `_has_key`: the column is an object with top-level `key`."""
    if dialect == POSTGRESQL:
        return _jsonb(column).op("?")(sa.literal(key, sa.Text))
    return sa.func.json_type(column, sa.literal_column(f"'$.{key}'")).is_not(None)


def case_sensitive_like(column: ColumnElement, pattern: str, dialect: str, glob: str) -> ColumnElement:
    """Hasura's `_like` (case-sensitive): PostgreSQL's LIKE, SQLite's GLOB with `glob`
    (SQLite's LIKE ignores case)."""
    if dialect == POSTGRESQL:
        return column.like(pattern)
    return column.op("GLOB")(glob)


def labels_fit(column: ColumnElement, labels: Sequence[str], dialect: str) -> ColumnElement:
    """A run's labels (a JSON array) fit an agent with `labels`: a non-empty subset of them,
    or, for an agent without labels, none at all. Labels that are not valid JSON (written
    by another tool) fit no agent, and never fail the query."""
    if dialect == POSTGRESQL:
        empty = sa.cast(sa.literal("[]", sa.Text), JSONB)
        if not labels:
            return sa.or_(column.is_(None), _jsonb(column) == empty)
        agent = sa.cast(sa.literal(json.dumps(sorted(labels)), sa.Text), JSONB)
        return sa.and_(column.is_not(None), _jsonb(column) != empty, _jsonb(column).op("<@")(agent))
    valid = sa.case((sa.func.json_valid(column), column), else_=sa.null())
    if not labels:
        return sa.or_(column.is_(None), sa.func.json_array_length(valid) == 0)
    each = sa.func.json_each(valid).table_valued("value")
    outside = sa.exists().select_from(each).where(each.c.value.not_in(list(labels)))
    return sa.and_(sa.func.json_array_length(valid) > 0, sa.not_(outside))
