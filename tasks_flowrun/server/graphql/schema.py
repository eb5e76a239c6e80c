"""The executable schema: generated table SDL + hand-written operations SDL + resolvers."""
from importlib import resources

from typing import cast

from graphql import GraphQLObjectType, GraphQLScalarType, GraphQLSchema, build_schema

from .resolvers import agents_logs_artifacts, flows, hooks, info_queries, registration, runs, tables, ui
from .scalars import SCALARS
from .tables_sdl import tables_sdl


def _operations_sdl() -> str:
    """The hand-written SDL: Prefect's operations, and the fields only the Prefect UI asks for."""
    sdl = resources.files(__package__).joinpath("sdl")
    return "\n\n".join(sdl.joinpath(name).read_text(encoding="utf-8") for name in ("operations.graphql", "ui.graphql"))


def build() -> GraphQLSchema:
    """Build the schema and wire its scalars and resolvers."""
    schema = build_schema(tables_sdl() + "\n\n" + _operations_sdl())
    for name, scalar in SCALARS.items():
        target = cast(GraphQLScalarType, schema.type_map[name])
        for hook in ("serialize", "parse_value", "parse_literal"):
            setattr(target, hook, getattr(scalar, hook))
    tables.attach(schema)
    query = cast(GraphQLObjectType, schema.query_type)
    mutation = cast(GraphQLObjectType, schema.mutation_type)
    for name, resolve in {**info_queries.QUERY_RESOLVERS, **ui.QUERY_RESOLVERS}.items():
        query.fields[name].resolve = resolve
    mutations = {**registration.RESOLVERS, **flows.RESOLVERS, **runs.RESOLVERS, **agents_logs_artifacts.RESOLVERS,
                 **hooks.RESOLVERS}
    missing = set(mutation.fields) - set(mutations)
    if missing:
        raise RuntimeError(f"Mutations without a resolver: {sorted(missing)}")
    for name, resolve in mutations.items():
        mutation.fields[name].resolve = resolve
    return schema
