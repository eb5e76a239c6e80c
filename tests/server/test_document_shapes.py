"""A document whose text is new but whose shape (tokens, literal values left out) validated
before is checked by the literal-dependent rules only: what those rules refuse is still
refused, and a document that differs in anything but literal values is validated in full.

The documents here hold a comment, so that they get no template (templates.py: a document
built from a template is neither parsed nor validated; see test_document_templates.py)."""
import uuid

import pytest

from tests.server.support import GraphQL


@pytest.fixture
def alias() -> str:
    """An alias no other document used: a shape of this test's own."""
    return "a" + uuid.uuid4().hex


NO_TEMPLATE = " # a comment: parsed, not built from a template\n"


def _shape_hits(server) -> int:
    return server.app.state.graphql.shape_hits


def test_documents_differing_only_in_literals_validate_by_shape(gql: GraphQL, server, alias):
    document = '{ %s: flow_run(limit: %d, where: {name: {_eq: "%s"}}) { id }' + NO_TEMPLATE + '}'
    assert gql.data(document % (alias, 1, "x")) == {alias: []}
    before = _shape_hits(server)
    assert gql.data(document % (alias, 2, "y")) == {alias: []}
    assert _shape_hits(server) == before + 1


def test_a_known_shape_with_a_literal_of_the_wrong_value_is_refused(gql: GraphQL, server, alias):
    document = "{ %s: flow_run(where: {version: {_eq: %s}}) { id }" + NO_TEMPLATE + "}"
    gql.data(document % (alias, "1"))
    before = _shape_hits(server)
    errors = gql.errors(document % (alias, "99999999999"))  # an Int token, too large for an Int
    assert _shape_hits(server) == before + 1
    assert "Int cannot represent non 32-bit signed integer value" in errors[0]["message"], errors


def test_a_known_shape_whose_same_named_fields_get_different_arguments_is_refused(gql: GraphQL, server, alias):
    document = "{ %s: flow_run(limit: %d) { id } %s: flow_run(limit: %d) { id }" + NO_TEMPLATE + "}"
    gql.data(document % (alias, 1, alias, 1))  # the same arguments: one field
    errors = gql.errors(document % (alias, 1, alias, 2))
    assert "conflict" in errors[0]["message"] and "differing arguments" in errors[0]["message"], errors


@pytest.mark.parametrize("other", ["{ %s: flow_run(limit: 1) { idd } }", "{ %s: flow_run(limitt: 1) { id } }",
                                   '{ %s: flow_run(limit: "1") { id } }'])
def test_a_document_differing_in_more_than_literal_values_is_validated_in_full(gql: GraphQL, server, alias, other):
    gql.data("{ %s: flow_run(limit: 1) { id }" % alias + NO_TEMPLATE + "}")
    before = _shape_hits(server)
    assert gql.errors(other.replace(" }", NO_TEMPLATE + "}") % alias)
    assert _shape_hits(server) == before
