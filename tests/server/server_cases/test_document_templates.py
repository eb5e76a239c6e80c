"""A new document text that differs from a validated one only in its literal values is built
from that one's template (no parse, no validation but of its literals): it must answer what
the text says, and what validation refuses must still be refused."""
import uuid

import pytest
from graphql import parse, print_ast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks_flowrun.server.graphql.executor import GraphQLService
from tasks_flowrun.server.graphql.schema import build
from tasks_flowrun.server.graphql.templates import literals
from tests.server.support import GraphQL


@pytest.fixture
def alias() -> str:
    """An alias no other document used: a template of this test's own."""
    return "a" + uuid.uuid4().hex


def _hits(server) -> int:
    return server.app.state.graphql.templates.hits


def _create_run(gql: GraphQL, flow_id: str, name: str) -> str:
    return gql.data('mutation { create_flow_run(input: {flow_id: "%s", flow_run_name: "%s"}) { id } }'
                    % (flow_id, name))["create_flow_run"]["id"]


def test_a_document_built_from_a_template_answers_for_its_own_values(gql: GraphQL, server, flow_id, alias):
    first, second = (_create_run(gql, flow_id, f"{alias}-{i}") for i in (1, 2))
    document = '{ %s: flow_run_by_pk(id: "%s") { id name } }'
    assert gql.data(document % (alias, first))[alias]["name"] == f"{alias}-1"
    before = _hits(server)
    assert gql.data(document % (alias, second))[alias] == {"id": second, "name": f"{alias}-2"}
    assert _hits(server) == before + 1


def test_numbers_and_strings_of_a_template_take_their_new_values(gql: GraphQL, server, flow_id, alias):
    for i in range(3):
        _create_run(gql, flow_id, f"{alias}-{i}")
    document = '{ %s: flow_run(where: {name: {_like: "%s%%"}}, limit: %d, order_by: {name: asc}) { name } }'
    assert [r["name"] for r in gql.data(document % (alias, alias, 1))[alias]] == [f"{alias}-0"]
    before = _hits(server)
    assert [r["name"] for r in gql.data(document % (alias, alias, 2))[alias]] == [f"{alias}-0", f"{alias}-1"]
    assert gql.data(document % (alias, "nothing-" + alias, 3))[alias] == []
    assert _hits(server) == before + 2


@pytest.mark.parametrize("bad, message", [
    ('"not-a-uuid"', "Could not parse UUID"),
    ('"%s"' % ("x" * 40), "Could not parse UUID"),
])
def test_a_template_literal_that_is_not_valid_where_it_stands_is_refused(gql: GraphQL, server, alias, bad, message):
    document = "{ %s: flow_run_by_pk(id: %s) { id } }"
    assert gql.data(document % (alias, '"%s"' % uuid.uuid4())) == {alias: None}
    before = _hits(server)
    errors = gql.errors(document % (alias, bad))
    assert message in errors[0]["message"], errors
    assert _hits(server) == before


def test_an_int_too_large_for_its_template_position_is_refused(gql: GraphQL, server, alias):
    document = '{ %s: flow_run(where: {name: {_eq: "%s"}, version: {_eq: %s}}) { id } }'
    assert gql.data(document % (alias, alias, "1")) == {alias: []}  # no run has that name: none
    errors = gql.errors(document % (alias, alias, "99999999999"))
    assert "Int cannot represent non 32-bit signed integer value" in errors[0]["message"], errors


def test_a_template_with_fields_of_one_response_name_checks_their_arguments(gql: GraphQL, server, alias):
    document = ('{ %s: flow_run(where: {name: {_eq: "%s"}}, limit: %d) { id } '
                '%s: flow_run(where: {name: {_eq: "%s"}}, limit: %d) { id } }')
    # the same arguments: one field (no run has that name: none)
    assert gql.data(document % (alias, alias, 1, alias, alias, 1)) == {alias: []}
    errors = gql.errors(document % (alias, alias, 1, alias, alias, 2))
    assert "conflict" in errors[0]["message"] and "differing arguments" in errors[0]["message"], errors


@pytest.mark.parametrize("document", [
    '{ %s: flow_run(where: {name: {_eq: "%s"}}) { id } # a comment\n}',
    '{ %s: flow_run(where: {name: {_eq: "\\u0041%s"}}) { id } }',
    '{ %s: flow_run(where: {name: {_eq: """%s"""}}) { id } }',
])
def test_texts_with_comments_escapes_or_block_strings_are_parsed_as_usual(gql: GraphQL, server, alias, document):
    assert gql.data(document % (alias, "x-" + alias)) == {alias: []}
    before = _hits(server)
    assert gql.data(document % (alias, "y-" + alias)) == {alias: []}
    assert _hits(server) == before


def test_a_text_whose_literals_are_not_tokens_of_their_own_is_refused_by_the_parser(gql: GraphQL, alias):
    document = "{ %s: flow_run(limit: %s) { id } }"
    gql.data(document % (alias, "1"))
    errors = gql.errors(document % (alias, "1x"))
    assert errors[0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED", errors


# The same, without HTTP: a built document is exactly what parsing its text gives.

SCHEMA = build()
TEXT = ('mutation { set_task_run_states(input: {states: [{task_run_id: "%s", version: %d, '
        'state: "%s"}]}) { states { id status message } } }')
TEXTS = ['{ flow_run(where: {name: {_eq: "%s"}, version: {_gte: %d}}, limit: 10) { id } }', TEXT]
_string = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\#'), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from(TEXTS), value=_string, number=st.integers(-2**31, 2**31 - 1))
def test_a_built_document_is_the_parse_of_its_text(text, value, number):
    service = GraphQLService(SCHEMA)
    template_values = (str(uuid.uuid4()), 1, '{\\"type\\": \\"Running\\"}')
    first = text % (template_values[0], 1) if text != TEXT else text % (template_values[0], 1, "{}")
    assert service.prepare(first, {})[1] == []
    if text == TEXT:
        other = text % (uuid.uuid4(), number, "{}")
    else:
        other = text % (value, number)
    document, errors = service.prepare(other, {})
    assert errors == []
    assert service.templates.hits == 1
    assert print_ast(document) == print_ast(parse(other))
    assert literals(other) is not None
