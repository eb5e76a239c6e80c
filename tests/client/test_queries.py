"""The GraphQL documents: only needed fields, one root field per poll, stock dialect, constant text."""
from prefect.utilities.graphql import parse_graphql

from tasks_flowrun.client import queries

IDS = ["2a6a8ba2-7b6d-4c4c-9d8b-5f8e1b0f2a3c", "3b6a8ba2-7b6d-4c4c-9d8b-5f8e1b0f2a3c"]


def test_flow_lookup_selects_small_fields_and_tenant_in_one_document():
    text = parse_graphql(queries.flow_lookup(with_key=False))
    assert "serialized_flow" not in text and "storage" not in text and "settings" not in text
    assert "version_group_id" in text and "tenant" in text and "flow_run" not in text
    assert text.startswith("query($where: flow_bool_exp) {") and "flow(where: $where, order_by: { version: desc })" in text
    keyed = parse_graphql(queries.flow_lookup(with_key=True))
    assert keyed.startswith("query($where: flow_bool_exp, $run_where: flow_run_bool_exp) {")
    assert "flow_run(where: $run_where)" in keyed


def test_lookup_values_travel_as_variables_not_text():
    where = queries.where_flow_or_group_id(IDS[0])
    assert where == {"_or": [{"id": {"_eq": IDS[0]}}, {"flow_group_id": {"_eq": IDS[0]}}]}
    assert queries.lookup_variables(where) == {"where": where}
    by_name = queries.where_flow_name("c", "p")
    assert by_name == {"name": {"_eq": "c"}, "project": {"name": {"_eq": "p"}}}
    assert queries.where_flow_name("c", None) == {"name": {"_eq": "c"}}
    assert queries.lookup_variables(by_name, "key-1") == {
        "where": by_name,
        "run_where": {"idempotency_key": {"_eq": "key-1"}, "flow": by_name},
    }


def test_documents_are_constant_per_shape():
    # the text a backend caches by never carries an id, a name, a key or a timestamp
    for document in (
        queries.flow_lookup(True),
        queries.poll_flow_runs(True, logs_after=True),
        queries.flow_run_views(),
    ):
        text = parse_graphql(document)
        assert '"' not in text, text


def test_poll_is_one_flow_run_query_over_all_ids_with_what_views_need():
    plain = parse_graphql(queries.poll_flow_runs(with_logs=False))
    assert plain.count("flow_run(") == 1 and "_in: $ids" in plain
    assert plain.startswith("query($ids: [uuid!]) {") and "logs" not in plain
    for field in (*queries.FLOW_RUN_VIEW_FIELDS, "version", "state_timestamp"):
        assert field in plain
    full = parse_graphql(queries.poll_flow_runs(True, logs_after=True))
    assert full.startswith("query($ids: [uuid!], $after: timestamptz) {") and "states {" in full
    assert "logs(order_by: { timestamp: asc }, where: { created: { _gt: $after } })" in full
    # without a cut-off the variable is not declared (an unused variable is invalid GraphQL)
    first = parse_graphql(queries.poll_flow_runs(True, logs_after=False, logs_tail=5))
    assert "$after" not in first and "logs(order_by: { timestamp: desc }, limit: 5)" in first


def test_view_selection_matches_flow_run_view():
    text = parse_graphql(queries.flow_run_views())
    assert text.startswith("query($ids: [uuid!]) {") and "_in: $ids" in text
    for field in ("id", "name", "flow_id", "serialized_state", "labels", "parameters", "context", "updated", "run_config"):
        assert f"\n        {field}\n" in text
