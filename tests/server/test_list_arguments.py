"""Out-of-range list arguments answer the same on every store."""
from tests.server.support import GraphQL


def test_a_negative_offset_skips_nothing(gql: GraphQL, make_flow):
    flow = make_flow()
    ids = [gql.create_flow_run(flow_id=flow.id) for _ in range(2)]
    where = '{flow_id: {_eq: "%s"}}' % flow.id
    for field in ("flow_run(where: %s, offset: -1)" % where, "flow_run(where: %s, offset: -5, limit: 1)" % where):
        rows = gql.data("{ %s { id } }" % field)["flow_run"]
        assert [r["id"] for r in rows] == ids[:len(rows)] and rows, field
    nested = gql.data('{ flow(where: {id: {_eq: "%s"}}) { flow_runs(offset: -1) { id } } }' % flow.id)
    assert [r["id"] for r in nested["flow"][0]["flow_runs"]] == ids
