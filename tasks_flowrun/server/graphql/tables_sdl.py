"""Generate the Hasura-style part of the schema from the storage tables and their relations.

For every table `t`: an object type `t`, a filter input `t_bool_exp`, an ordering input
`t_order_by` (columns and object relations), a column enum `t_select_column` for
`distinct_on`, aggregate types (`t_aggregate { aggregate { count min max sum avg } nodes }`),
and root fields `t(where, order_by, distinct_on, limit, offset)`, `t_aggregate(...)` and
`t_by_pk(id)`; each array relation `r` also has `r_aggregate(...)`.
"""
from typing import List

import sqlalchemy as sa

from ..storage.relations import RELATIONS
from ..storage.selection import numeric_columns, ordered_columns
from ..storage.tables import API_TABLES as TABLES, api_columns, is_json

SCALARS = ["uuid", "timestamptz", "jsonb", "String", "Int", "Boolean"]

_BASE = """
scalar uuid
scalar timestamptz
scalar jsonb

enum order_by { asc asc_nulls_first asc_nulls_last desc desc_nulls_first desc_nulls_last }
"""


def column_type(column: sa.Column) -> str:
    """The GraphQL scalar of a storage column: as the table declares it (`uuid_column`,
    `time_column` in storage/tables.py), else from its SQL type."""
    if column.info.get("graphql"):
        return column.info["graphql"]
    if is_json(column):
        return "jsonb"
    if isinstance(column.type, sa.Integer):
        return "Int"
    if isinstance(column.type, sa.Boolean):
        return "Boolean"
    return "String"


def _comparison(scalar: str) -> str:
    ops = [f"_eq: {scalar}", f"_neq: {scalar}", f"_in: [{scalar}!]", f"_nin: [{scalar}!]", "_is_null: Boolean"]
    if scalar == "jsonb":
        ops += ["_contains: jsonb", "_has_key: String"]
    else:
        ops += [f"_gt: {scalar}", f"_gte: {scalar}", f"_lt: {scalar}", f"_lte: {scalar}"]
    if scalar == "String":
        ops += ["_like: String", "_nlike: String", "_ilike: String", "_nilike: String"]
    return f"input {scalar}_comparison_exp {{ {', '.join(ops)} }}"


def _list_args(name: str) -> str:
    return (f"(where: {name}_bool_exp, order_by: [{name}_order_by!], distinct_on: [{name}_select_column!], "
            "limit: Int, offset: Int)")


def _aggregate_types(name: str) -> List[str]:
    table = TABLES[name]
    by_name = {c.name: c for c in api_columns(table)}
    parts = [f"enum {name}_select_column {{ {' '.join(by_name)} }}"]
    functions = [f"count(columns: [{name}_select_column!], distinct: Boolean): Int!"]
    ordered = ordered_columns(name)
    numeric = numeric_columns(name)
    for function, names, scalar in (("min", ordered, None), ("max", ordered, None),
                                    ("sum", numeric, "Int"), ("avg", numeric, "Float")):
        if not names:
            continue
        fields = ", ".join(f"{n}: {scalar or column_type(by_name[n])}" for n in names)
        parts.append(f"type {name}_{function}_fields {{ {fields} }}")
        functions.append(f"{function}: {name}_{function}_fields")
    parts.append(f"type {name}_aggregate_fields {{ {', '.join(functions)} }}")
    # ordering parents by an aggregate of their related rows (`{flow_runs_aggregate: {count: desc}}`)
    aggregate_orders = ["count: order_by"]
    for function, names in (("min", ordered), ("max", ordered), ("sum", numeric), ("avg", numeric)):
        if names:
            parts.append(f"input {name}_{function}_order_by {{ {', '.join(f'{n}: order_by' for n in names)} }}")
            aggregate_orders.append(f"{function}: {name}_{function}_order_by")
    parts.append(f"input {name}_aggregate_order_by {{ {', '.join(aggregate_orders)} }}")
    parts.append(f"type {name}_aggregate {{ aggregate: {name}_aggregate_fields, nodes: [{name}!]! }}")
    return parts


def _table(name: str) -> str:
    table = TABLES[name]
    fields: List[str] = [f"{c.name}: {column_type(c)}" for c in api_columns(table)]
    filters: List[str] = [f"_and: [{name}_bool_exp!]", f"_or: [{name}_bool_exp!]", f"_not: {name}_bool_exp"]
    filters += [f"{c.name}: {column_type(c)}_comparison_exp" for c in api_columns(table)]
    orders = [f"{c.name}: order_by" for c in api_columns(table)]
    for rel_name, rel in RELATIONS.get(name, {}).items():
        if rel.kind == "object":
            fields.append(f"{rel_name}: {rel.target}")
            orders.append(f"{rel_name}: {rel.target}_order_by")
        else:
            fields.append(f"{rel_name}{_list_args(rel.target)}: [{rel.target}!]!")
            fields.append(f"{rel_name}_aggregate{_list_args(rel.target)}: {rel.target}_aggregate!")
            orders.append(f"{rel_name}_aggregate: {rel.target}_aggregate_order_by")
        filters.append(f"{rel_name}: {rel.target}_bool_exp")
    return "\n".join([
        f"type {name} {{\n  " + "\n  ".join(fields) + "\n}",
        f"input {name}_bool_exp {{\n  " + "\n  ".join(filters) + "\n}",
        f"input {name}_order_by {{ " + ", ".join(orders) + " }",
        *_aggregate_types(name),
    ])


def tables_sdl() -> str:
    """SDL text for all tables, their filters and the `Query` root fields that read them."""
    parts = [_BASE] + [_comparison(s) for s in SCALARS] + [_table(n) for n in TABLES]
    roots = []
    for name in TABLES:
        roots.append(f"{name}{_list_args(name)}: [{name}!]!")
        roots.append(f"{name}_aggregate{_list_args(name)}: {name}_aggregate!")
        roots.append(f"{name}_by_pk(id: uuid!): {name}")
    parts.append("type Query {\n  " + "\n  ".join(roots) + "\n}")
    return "\n\n".join(parts)
