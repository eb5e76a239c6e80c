"""Property-based fuzzing of the GraphQL API: random documents built from the schema's own
fields and arguments, and random Hasura-style `where` / `order_by` inputs. Whatever is sent,
the answer is JSON with `data` or `errors`, never a 500, never internals in a message.

Each test tries 60 examples in the suite (a new seed every run); set
`TASKS_FLOWRUN_FUZZ_EXAMPLES` (e.g. 2000) for a longer hunt."""
import json
import os
import string
from typing import Any

import pytest
import requests
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks_flowrun.server.graphql.schema import build
from tests.server.support import assert_clean_message

SCHEMA = build()
QUERY = SCHEMA.query_type
TABLES = sorted(name for name, field in QUERY.fields.items() if "where" in field.args)  # lists and aggregates
FUZZ = settings(max_examples=int(os.environ.get("TASKS_FLOWRUN_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=list(HealthCheck))

names = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["2024-01-01T00:00:00+00:00", "not-a-time", "00000000-0000-0000-0000-000000000000", "%", "_"]),
)


def _unwrap(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _input_value(type_: Any, depth: int) -> st.SearchStrategy:
    """Values shaped like an input type (mostly), with wrong shapes mixed in."""
    type_ = _unwrap(type_)
    if isinstance(type_, GraphQLList):
        return st.lists(_input_value(type_.of_type, depth), max_size=3)
    if isinstance(type_, GraphQLInputObjectType):
        if depth <= 0:
            return st.just({})
        fields = sorted(type_.fields)
        return st.dictionaries(st.sampled_from(fields), st.deferred(
            lambda: st.one_of(*(_input_value(type_.fields[f].type, depth - 1) for f in fields[:1]), scalars)),
            max_size=3).flatmap(lambda keys: st.fixed_dictionaries(
                {k: st.one_of(_input_value(type_.fields[k].type, depth - 1), scalars) for k in keys}))
    return scalars


def _selection(object_type: GraphQLObjectType, depth: int) -> st.SearchStrategy:
    fields = sorted(object_type.fields)

    def one(name: str) -> st.SearchStrategy:
        field = object_type.fields[name]
        target = get_named_type(field.type)
        alias = st.one_of(st.just(""), names.map(lambda a: f"{a}: "))
        if isinstance(target, GraphQLObjectType):
            if depth <= 0:
                return st.just("")
            args = st.just("")
            if "limit" in field.args:
                args = st.one_of(st.just(""), st.integers(-5, 10**6).map(lambda n: f"(limit: {n})"))
            return st.tuples(alias, args, _selection(target, depth - 1)).map(
                lambda t: f"{t[0]}{name}{t[1]} {{ {t[2]} }}")
        return alias.map(lambda a: f"{a}{name}")

    return st.lists(st.sampled_from(fields).flatmap(one), min_size=1, max_size=6).map(
        lambda parts: " ".join(p for p in parts if p) or "id")


@st.composite
def documents(draw) -> tuple:
    root = draw(st.sampled_from(TABLES))
    field = QUERY.fields[root]
    where = draw(_input_value(field.args["where"].type, 3))
    order_by = draw(st.one_of(st.none(), _input_value(field.args["order_by"].type, 1)))
    limit = draw(st.one_of(st.none(), st.integers(-5, 10**7)))
    selection = draw(_selection(get_named_type(field.type), 3))
    where_type = get_named_type(field.args["where"].type).name
    order_type = get_named_type(field.args["order_by"].type).name
    limit_arg = "" if limit is None else f", limit: {limit}"
    query = (f"query($w: {where_type}, $o: [{order_type}!]) "
             f"{{ {root}(where: $w, order_by: $o{limit_arg}) {{ {selection} }} }}")
    return query, {"w": where, "o": order_by}


def _check(resp: requests.Response) -> None:
    assert resp.status_code in (200, 400), (resp.status_code, resp.text[:500])
    body = resp.json()
    assert "data" in body or "errors" in body, body
    sent = resp.request.body.decode() if isinstance(resp.request.body, bytes) else str(resp.request.body or "")
    for error in body.get("errors") or []:
        assert_clean_message(error["message"], sent)
        assert error.get("extensions", {}).get("code") != "INTERNAL_ERROR", error


@pytest.fixture(scope="module")
def url(server, backend_env) -> str:
    return server.url


@FUZZ
@given(doc=documents())
def test_random_documents_from_the_schema_never_break_the_backend(url: str, doc):
    query, variables = doc
    _check(requests.post(url, json={"query": query, "variables": json.dumps(variables)}, timeout=30))


FILTER_KEYS = ["_and", "_or", "_not", "_eq", "_in", "_like", "id", "name", "state", "flow", "task_runs", "labels",
               "created"]


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    keys = st.one_of(names, st.sampled_from(FILTER_KEYS))
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4))


json_values = st.recursive(scalars, _containers, max_leaves=25)


@FUZZ
@given(table=st.sampled_from(["flow_run", "task_run", "flow", "log"]), where=json_values, order_by=json_values,
       offset=st.one_of(st.none(), st.integers(-10, 2**40)))
def test_random_where_and_order_by_values_never_break_the_backend(url: str, table: str, where, order_by, offset):
    query = (f"query($w: {table}_bool_exp, $o: [{table}_order_by!], $n: Int) "
             f"{{ {table}(where: $w, order_by: $o, offset: $n, limit: 5) {{ id }} }}")
    _check(requests.post(url, json={"query": query, "variables": {"w": where, "o": order_by, "n": offset}},
                         timeout=30))
