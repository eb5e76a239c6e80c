"""Resolvers for the generated table fields: root lists, `_by_pk`, and relationships."""
from typing import Any, Callable, Dict, Optional, cast

from graphql import GraphQLObjectType, GraphQLSchema

from ...storage.hasura import FilterError
from ...storage.reads import get_row, select_rows
from ...storage.relations import RELATIONS
from ...storage.tables import TABLES
from ..errors import UserError


def _list_resolver(table: str) -> Callable:
    def resolve(_root: Any, info: Any, where: Optional[Dict] = None, order_by: Any = None,
                limit: Optional[int] = None, offset: Optional[int] = None):
        try:
            return select_rows(info.context.conn, table, where, order_by, limit, offset)
        except FilterError as exc:
            raise UserError(str(exc)) from None
    return resolve


def _by_pk_resolver(table: str) -> Callable:
    def resolve(_root: Any, info: Any, id: str):
        return get_row(info.context.conn, table, id=id)
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


def _object_resolver(target: str, local: str, remote: str) -> Callable:
    def resolve(row: Dict[str, Any], info: Any):
        if row.get(local) is None:
            return None
        return get_row(info.context.conn, target, **{remote: row[local]})
    return resolve


def _array_resolver(target: str, local: str, remote: str) -> Callable:
    def resolve(row: Dict[str, Any], info: Any, where: Optional[Dict] = None, order_by: Any = None,
                limit: Optional[int] = None, offset: Optional[int] = None):
        try:
            return select_rows(info.context.conn, target, where, order_by, limit, offset, extra={remote: row[local]})
        except FilterError as exc:
            raise UserError(str(exc)) from None
    return resolve


def attach(schema: GraphQLSchema) -> None:
    """Set the resolvers of every generated table field on `schema`."""
    query = cast(GraphQLObjectType, schema.query_type)
    for name in TABLES:
        query.fields[name].resolve = _list_resolver(name)
        query.fields[f"{name}_by_pk"].resolve = (
            _flow_run_by_pk_resolver() if name == "flow_run" else _by_pk_resolver(name))
        object_type = cast(GraphQLObjectType, schema.type_map[name])
        for rel_name, rel in RELATIONS.get(name, {}).items():
            make = _object_resolver if rel.kind == "object" else _array_resolver
            object_type.fields[rel_name].resolve = make(rel.target, rel.local, rel.remote)
