"""The GraphQL documents: only needed fields, one root field per poll, stock dialect."""
from prefect.utilities.graphql import parse_graphql

from tasks_flowrun.client import queries

IDS = ["2a6a8ba2-7b6d-4c4c-9d8b-5f8e1b0f2a3c", "3b6a8ba2-7b6d-4c4c-9d8b-5f8e1b0f2a3c"]


def test_flow_lookup_selects_small_fields_and_tenant_in_one_document():
    text = parse_graphql(queries.flow_lookup(queries.where_flow_or_group_id(IDS[0])))
    assert "serialized_flow" not in text and "storage" not in text and "settings" not in text
    assert "version_group_id" in text and "tenant" in text
    assert f'_or: [{{ id: {{ _eq: "{IDS[0]}" }} }}, {{ flow_group_id: {{ _eq: "{IDS[0]}" }} }}]' in text


def test_name_lookup_filters_on_project_only_when_given():
    assert "project: { name" not in parse_graphql(queries.flow_lookup(queries.where_flow_name("c", None)))
    text = parse_graphql(queries.flow_lookup(queries.where_flow_name("c", "p")))
    assert 'project: { name: { _eq: "p" } }' in text


def test_poll_is_one_flow_run_query_over_all_ids():
    light = parse_graphql(queries.poll_flow_runs(IDS, with_states=False, with_logs=False))
    assert light.count("flow_run(") == 1 and f'_in: ["{IDS[0]}", "{IDS[1]}"]' in light
    for heavy in ("parameters", "context", "run_config", "states", "logs"):
        assert heavy not in light
    full = parse_graphql(queries.poll_flow_runs(IDS, True, True, "2030-01-01T00:00:00+00:00"))
    assert "states {" in full
    assert 'logs(order_by: { timestamp: asc }, where: { timestamp: { _gt: "2030-01-01T00:00:00+00:00" } })' in full


def test_view_selection_matches_flow_run_view():
    text = parse_graphql(queries.flow_run_views(IDS))
    for field in ("id", "name", "flow_id", "serialized_state", "labels", "parameters", "context", "updated", "run_config"):
        assert f"\n        {field}\n" in text
