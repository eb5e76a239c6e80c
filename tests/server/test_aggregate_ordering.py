"""Ordering rows by an aggregate of their related rows, as Hasura allows
(`order_by: {flow_runs: ...}` is a filter; `{flow_runs_aggregate: {count: desc}}` an order)."""
from tests.server.support import GraphQL


def test_flows_ordered_by_their_number_of_runs_and_by_their_newest_run(gql: GraphQL, make_flow, project):
    flows = {name: make_flow(name) for name in ("none", "two", "one")}
    for name, runs in (("two", 2), ("one", 1)):
        for _ in range(runs):
            gql.create_flow_run(flow_id=flows[name].id)
    where = '{project: {name: {_eq: "%s"}}}' % project

    def names(order_by: str) -> list:
        return [f["name"] for f in gql.data('{ flow(where: %s, order_by: %s) { name } }' % (where, order_by))["flow"]]

    assert names("{flow_runs_aggregate: {count: desc}}") == ["two", "one", "none"]
    assert names("{flow_runs_aggregate: {count: asc}}") == ["none", "one", "two"]
    # the newest run last created is "one"'s; a flow without runs has a null max (first when descending)
    assert names("{flow_runs_aggregate: {max: {created: desc}}}") == ["none", "one", "two"]
    assert names("{flow_runs_aggregate: {max: {created: desc_nulls_last}}}") == ["one", "two", "none"]


def test_an_unknown_aggregate_or_column_is_a_clear_error(gql: GraphQL):
    errors = gql.errors('{ flow(order_by: {flow_runs_aggregate: {max: {no_such_column: asc}}}) { id } }')
    assert "no_such_column" in errors[0]["message"]
