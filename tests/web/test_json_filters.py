"""The JSON operators the page relies on, as any client sees them: `_contains` and `_has_key`."""
import pytest

from tasks_flowrun.server.embedded import EmbeddedServer
from tests.server.support import GraphQL
from tests.stores import fresh_database
from tests.web.test_many_runs import CHILDREN_PER_PARENT, insert_runs

QUERY = "query($w: flow_run_bool_exp) { flow_run(where: $w, order_by: [{created: asc}]) { id name context labels } }"


@pytest.fixture(scope="module")
def gql(tmp_path_factory):
    with EmbeddedServer(port=0, database=fresh_database(tmp_path_factory.mktemp("json"), "json")) as srv:
        insert_runs(srv.app.state.db, 40)
        yield GraphQL(srv.url)


def names(gql: GraphQL, where: dict) -> list:
    return [r["name"] for r in gql.data(QUERY, {"w": where}, variables_as="object")["flow_run"]]


def test_contains_and_has_key(gql) -> None:
    top = names(gql, {"_not": {"context": {"_has_key": "parent_flow_run_id"}}})
    assert top == ["bulk-00000", "bulk-00010", "bulk-00020", "bulk-00030"]
    first = gql.data(QUERY, {"w": {"name": {"_eq": "bulk-00010"}}}, variables_as="object")["flow_run"][0]["id"]
    children = names(gql, {"context": {"_contains": {"parent_flow_run_id": first}}})
    assert children == [f"bulk-{i:05d}" for i in range(11, 11 + CHILDREN_PER_PARENT)]
    assert names(gql, {"labels": {"_contains": ["bulk", "shard-3"]}}) == [f"bulk-{i:05d}" for i in range(3, 40, 4)]
    assert names(gql, {"labels": {"_contains": ["nope"]}}) == []
    assert len(names(gql, {"context": {"_contains": {}}})) == 40


@pytest.mark.parametrize("where", [
    {"context": {"_has_key": "a'; DROP TABLE flow_run; --"}},
    {"context": {"_contains": {"a b": 1}}},
    {"labels": {"_contains": [{"nested": 1}]}},
    {"context": {"_contains": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {
        "k": {"k": {"k": {"k": {"k": 1}}}}}}}}}}}}}}}}}}}},
])
def test_bad_json_filters_are_clean_errors(gql, where) -> None:
    gql.errors(QUERY, {"w": where}, variables_as="object")
    assert len(names(gql, {})) == 40
