"""Costly GraphQL documents are refused before they run, quickly, with the limit named;
the queries Prefect itself sends pass easily."""
import json

import pytest

from tests.server.attacks.support import Target, refused, timed


def test_nested_lists_are_refused_by_estimated_rows(target: Target):
    resp = timed(lambda: target.gql("{ flow_run { flow { flow_runs { flow { flow_runs { id } } } } } }"))
    body = refused(resp, 400, "too costly", "rows", "limit 200,000")
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    target.assert_healthy()


def test_limits_make_the_same_nesting_affordable(target: Target):
    data = target.data("{ flow_run(limit: 5) { flow { flow_runs(limit: 5) { flow { flow_runs(limit: 5) { id } } } } } }")
    assert isinstance(data["flow_run"], list)


def test_fragments_do_not_bypass_the_depth_limit(target: Target):
    levels = 20
    fragments = [f"fragment F{i} on flow_run {{ flow {{ flow_runs(limit: 1) {{ ...F{i + 1} }} }} }}"
                 for i in range(levels)]
    fragments.append(f"fragment F{levels} on flow_run {{ id }}")
    query = "query { flow_run(limit: 1) { ...F0 } } " + " ".join(fragments)
    refused(timed(lambda: target.gql(query)), 400, "deep", "limit 12")
    inline = "{ flow_run(limit: 1) { " + "... on flow_run { flow { flow_runs(limit: 1) { " * 10 + "id" + " } } }" * 10 + " } }"
    refused(timed(lambda: target.gql("query " + inline)), 400, "deep")
    target.assert_healthy()


def test_fragment_cycles_are_refused(target: Target):
    query = ("query { flow_run(limit: 1) { ...A } } fragment A on flow_run { flow { ...B } } "
             "fragment B on flow { flow_runs(limit: 1) { ...A } }")
    refused(timed(lambda: target.gql(query)), 400, "cycle")
    target.assert_healthy()


@pytest.mark.parametrize("aliases,words", [(10_000, ("20000 tokens",)), (1_500, ("field selections", "1,000"))])
def test_many_aliases_are_refused_quickly(target: Target, aliases: int, words):
    query = "query { " + " ".join(f"a{i}: hello" for i in range(aliases)) + " }"
    refused(timed(lambda: target.gql(query), 2.0), 400, *words)
    target.assert_healthy()


def test_exponential_fragment_spreads_are_refused_quickly(target: Target):
    fragments = ["fragment F0 on flow_run { id name }"]
    fragments += [f"fragment F{i} on flow_run {{ ...F{i - 1} x{i}: flow {{ id }} ...F{i - 1} }}" for i in range(1, 40)]
    query = "query { flow_run(limit: 1) { ...F39 } } " + " ".join(fragments)
    refused(timed(lambda: target.gql(query), 2.0), 400, "too costly")
    target.assert_healthy()


def test_a_huge_document_is_refused_by_its_token_count(target: Target):
    query = "query { hello " + "__typename " * 30_000 + "}"
    refused(timed(lambda: target.gql(query), 2.0), 400, "token")
    target.assert_healthy()


@pytest.mark.parametrize("depth", [3_000, 300])
def test_deeply_nested_not_in_a_literal_is_refused(target: Target, depth: int):
    where = "{_not: " * depth + "{id: {_is_null: false}}" + "}" * depth
    refused(timed(lambda: target.gql("query { flow_run(where: %s) { id } }" % where)), 400)
    target.assert_healthy()


@pytest.mark.parametrize("depth", [3_000, 40, 17])
def test_deeply_nested_not_in_variables_is_refused(target: Target, depth: int):
    where: dict = {"id": {"_is_null": False}}
    for _ in range(depth):
        where = {"_not": where}
    raw = '{"query": "query($w: flow_run_bool_exp) { flow_run(where: $w) { id } }", "variables": {"w": ' + \
        '{"_not": ' * depth + '{"id": {"_is_null": false}}' + "}" * depth + "}}"
    resp = timed(lambda: target.post(None, raw=raw.encode()))
    assert resp.status_code in (200, 400), resp.text[:300]
    message = resp.json()["errors"][0]["message"]
    assert "nested too deeply" in message or "Filter nested too deeply" in message, message
    target.assert_healthy()


def test_a_filter_list_past_its_bound_is_refused(target: Target):
    ids = ["00000000-0000-0000-0000-%012d" % i for i in range(10_001)]
    resp = timed(lambda: target.gql("query($ids: [uuid!]) { flow_run(where: {id: {_in: $ids}}) { id } }",
                                    {"ids": ids}))
    refused(resp, 200, "10,000")
    target.assert_healthy()


def test_prefects_own_big_queries_pass(target: Target):
    """The agent's follow-up query and FlowRunView's, as the installed prefect builds them."""
    from prefect.utilities.graphql import parse_graphql, with_args

    run_id = target.create_run()
    agent_query = parse_graphql({"query": {
        with_args("flow_run", {"where": {"id": {"_in": [run_id]}, "_or": [
            {"state": {"_eq": "Scheduled"}},
            {"state": {"_eq": "Running"}, "task_runs": {"state_start_time": {"_lte": "2100-01-01T00:00:00+00:00"}}},
        ]}}): {
            "id": True, "version": True, "state": True, "serialized_state": True, "parameters": True,
            "scheduled_start_time": True, "run_config": True, "name": True,
            "flow": {"id", "name", "environment", "storage", "version", "core_version"},
            with_args("task_runs", {"where": {"state_start_time": {"_lte": "2100-01-01T00:00:00+00:00"}}}):
                {"id", "version", "task_id", "serialized_state"},
        }}})
    assert [r["id"] for r in target.data(agent_query)["flow_run"]] == [run_id]
    view_query = ("query { flow_run(where: { id: { _eq: %s } }) { id name flow_id serialized_state "
                  "states { serialized_state timestamp } labels parameters context updated run_config "
                  "task_runs { id name task { id slug } map_index serialized_state flow_run_id } } }"
                  % json.dumps(run_id))
    assert target.data(view_query)["flow_run"][0]["id"] == run_id
