"""Resolvers for the generated table fields: root lists, `_by_pk`, and relationships.

Relationships load in batches: the rows of one list are remembered as siblings, and the
first time a relationship field is resolved for one of them, it is fetched for all of them
with one query (per 500 keys); the other siblings then take their share from the request's
cache. A query nested N lists deep thus costs N queries, not one per parent row.
"""
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, cast

from graphql import GraphQLObjectType, GraphQLSchema

from ...storage.rows import fetch_row
from ...storage.hasura import FilterError
from ...storage.reads import select_related, select_rows
from ...storage.relations import RELATIONS
from ...storage.selection import Selection, select_rows_by_key
from ...storage.tables import API_TABLES as TABLES
from ..errors import UserError
from . import aggregates


def _list_resolver(table: str) -> Callable:
    def resolve(_root: Any, info: Any, where: Optional[Dict] = None, order_by: Any = None,
                limit: Optional[int] = None, offset: Optional[int] = None, distinct_on: Any = None):
        ctx = info.context
        ctx.budget.check()
        try:
            if distinct_on:
                spec = Selection(where, order_by, distinct_on, limit, offset)
                return ctx.remember(select_rows_by_key(ctx.conn, table, spec).get(None, []))
            return ctx.remember(select_rows(ctx.conn, table, where, order_by, limit, offset))
        except FilterError as exc:
            raise UserError(str(exc)) from None
    return resolve


def _by_pk_resolver(table: str) -> Callable:
    def resolve(_root: Any, info: Any, id: str):
        info.context.budget.check()
        return fetch_row(info.context.conn, table, id=id)
    return resolve


def _flow_run_by_pk_resolver() -> Callable:
    """`flow_run_by_pk` is how Prefect's flow runner polls its own run while it runs: each
    read is recorded as proof that a flow process is alive (see api/liveness.py)."""
    read = _by_pk_resolver("flow_run")

    def resolve(root: Any, info: Any, id: str):
        row = read(root, info, id)
        polls = getattr(info.context, "polls", None)
        if row is not None and polls is not None and row.get("state") in ("Running", "Cancelling"):
            polls.saw(row["id"])
        return row
    return resolve


def _batch(row: Dict[str, Any], info: Any, load: Callable[[List[Any]], Dict[Any, Any]]) -> Dict[Any, Any]:
    """The relation's rows for all siblings of `row`, grouped by key (loaded once per level)."""
    ctx = info.context
    siblings = ctx.siblings.get(id(row)) or [row]
    key = (id(info.field_nodes[0]), id(siblings))
    cached = ctx.loaded.get(key)
    if cached is None:
        ctx.budget.check()
        cached = (siblings, load(siblings))
        ctx.loaded[key] = cached
    return cached[1]


def _object_resolver(target: str, local: str, remote: str) -> Callable:
    def resolve(row: Dict[str, Any], info: Any):
        if row.get(local) is None:
            return None

        def load(siblings: List[Dict[str, Any]]) -> Dict[Any, Any]:
            keys = [r[local] for r in siblings if r.get(local) is not None]
            found = info.context.remember(select_related(info.context.conn, target, remote, keys))
            by_key: Dict[Any, Any] = {}
            for item in found:
                by_key.setdefault(item[remote], item)
            return by_key

        return _batch(row, info, load).get(row[local])
    return resolve


def _array_resolver(target: str, local: str, remote: str) -> Callable:
    def resolve(row: Dict[str, Any], info: Any, where: Optional[Dict] = None, order_by: Any = None,
                limit: Optional[int] = None, offset: Optional[int] = None, distinct_on: Any = None):
        def load(siblings: List[Dict[str, Any]]) -> Dict[Any, Any]:
            keys = [r[local] for r in siblings if r.get(local) is not None]
            try:
                if distinct_on:
                    spec = Selection(where, order_by, distinct_on, limit, offset)
                    found = [r for group in select_rows_by_key(info.context.conn, target, spec, remote, keys).values()
                             for r in group]
                else:
                    found = select_related(info.context.conn, target, remote, keys, where, order_by, limit, offset)
            except FilterError as exc:
                raise UserError(str(exc)) from None
            info.context.remember(found)
            grouped: Dict[Any, List[Dict[str, Any]]] = defaultdict(list)
            for item in found:
                grouped[item[remote]].append(item)
            return grouped

        return _batch(row, info, load).get(row[local], [])
    return resolve


def attach(schema: GraphQLSchema) -> None:
    """Set the resolvers of every generated table field on `schema`."""
    query = cast(GraphQLObjectType, schema.query_type)
    for name in TABLES:
        query.fields[name].resolve = _list_resolver(name)
        query.fields[f"{name}_by_pk"].resolve = (
            _flow_run_by_pk_resolver() if name == "flow_run" else _by_pk_resolver(name))
        query.fields[f"{name}_aggregate"].resolve = aggregates.root_aggregate(name)
        object_type = cast(GraphQLObjectType, schema.type_map[name])
        for rel_name, rel in RELATIONS.get(name, {}).items():
            make = _object_resolver if rel.kind == "object" else _array_resolver
            object_type.fields[rel_name].resolve = make(rel.target, rel.local, rel.remote)
            if rel.kind == "array":
                object_type.fields[f"{rel_name}_aggregate"].resolve = aggregates.relation_aggregate(
                    rel.target, rel.local, rel.remote, _batch)
        _attach_aggregate_types(schema, name)


def _attach_aggregate_types(schema: GraphQLSchema, name: str) -> None:
    aggregate = cast(GraphQLObjectType, schema.type_map[f"{name}_aggregate"])
    aggregate.fields["aggregate"].resolve = aggregates.aggregate_fields
    aggregate.fields["nodes"].resolve = aggregates.nodes
    fields = cast(GraphQLObjectType, schema.type_map[f"{name}_aggregate_fields"]).fields
    fields["count"].resolve = aggregates.count
    for function in ("min", "max", "sum", "avg"):
        if function in fields:
            fields[function].resolve = aggregates.function(function)
