"""The executable schema: generated table SDL + hand-written operations SDL + resolvers."""
from importlib import resources

from graphql import GraphQLSchema, build_schema

from .resolvers import misc, registration, runs, tables
from .scalars import SCALARS
from .tables_sdl import tables_sdl


def _operations_sdl() -> str:
    return resources.files(__package__).joinpath("sdl/operations.graphql").read_text(encoding="utf-8")


def build() -> GraphQLSchema:
    """Build the schema and wire its scalars and resolvers."""
    schema = build_schema(tables_sdl() + "\n\n" + _operations_sdl())
    for name, scalar in SCALARS.items():
        target = schema.type_map[name]
        target.serialize = scalar.serialize
        target.parse_value = scalar.parse_value
        target.parse_literal = scalar.parse_literal
    tables.attach(schema)
    for name, resolve in misc.QUERY_RESOLVERS.items():
        schema.query_type.fields[name].resolve = resolve
    mutations = {**registration.RESOLVERS, **runs.RESOLVERS, **misc.RESOLVERS}
    missing = set(schema.mutation_type.fields) - set(mutations)
    if missing:
        raise RuntimeError(f"Mutations without a resolver: {sorted(missing)}")
    for name, resolve in mutations.items():
        schema.mutation_type.fields[name].resolve = resolve
    return schema
