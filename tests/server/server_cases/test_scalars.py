"""Prefect Server's tests/graphql/test_scalars.py, over HTTP.

Server tests its JSON, DateTime and UUID scalars on a toy schema (and their Python functions
directly); here the same behaviours are observed through this backend's real fields of those
types: a log's `info` (JSON), `create_flow_run`'s `scheduled_start_time` and
`mapped_children`'s times (DateTime), `get_task_run_info`'s `task_run_id` and payload ids (UUID).
"""
import json

import pendulum
import pytest
from prefect.engine.state import Running

from tests.server.server_cases.calls import error, get_or_create_task_run, row, set_task_run_state, skipped_cases

VALUES = [1.0, "2", [3, {"4": 5}]]
WRITE_LOG = "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }"


def stored_info(gql, flow_run_id):
    """The `info` of the run's only log, as the raw JSON text of the answer decodes it."""
    text = gql.post('query { log(where: {flow_run_id: {_eq: "%s"}}) { info } }' % flow_run_id).text
    return json.loads(text)["data"]["log"][0]["info"]


def write_literal(gql, flow_run_id, literal):
    gql.data('mutation { write_run_logs(input: {logs: [{flow_run_id: "%s", message: "m", info: %s}]}) { success } }'
             % (flow_run_id, literal))


# --- TestJSONScalar ---------------------------------------------------------------------------------

@pytest.mark.parametrize("x", VALUES)
def test_json_scalar_serialize_leaves_value_unchanged(gql, flow_run_id, x):
    # written as JSON text (what Server's literal parser reads), answered as the same document,
    # of the same type (1.0 stays a float)
    write_literal(gql, flow_run_id, json.dumps(json.dumps(x)))
    value = stored_info(gql, flow_run_id)
    assert value == x and type(value) is type(x)


@pytest.mark.parametrize("x", VALUES)
def test_json_scalar_value_parser_leaves_value_unchanged(gql, flow_run_id, x):
    gql.data(WRITE_LOG, {"input": {"logs": [{"flow_run_id": flow_run_id, "message": "m", "info": x}]}})
    value = stored_info(gql, flow_run_id)
    assert value == x and type(value) is type(x)


@pytest.mark.parametrize("x", VALUES)
def test_json_scalar_literal_parser_loads_json_from_string(gql, flow_run_id, x):
    write_literal(gql, flow_run_id, json.dumps(json.dumps(x)))
    assert stored_info(gql, flow_run_id) == x


# --- TestJSONScalarGraphQL --------------------------------------------------------------------------

def test_json_scalar_as_output(gql, flow_run_id):
    gql.data(WRITE_LOG, {"input": {"logs": [{"flow_run_id": flow_run_id, "info": {"x": [1, 2]}}]}})
    # a JSON document in the answer, not a string holding one
    assert stored_info(gql, flow_run_id) == {"x": [1, 2]}


def test_json_scalar_input_as_query_string(gql, flow_run_id):
    write_literal(gql, flow_run_id, r'"{\"x\": 1}"')
    assert stored_info(gql, flow_run_id)["x"] == 1


def test_json_scalar_input_as_variable(gql, flow_run_id):
    gql.data("mutation($j: JSON) { write_run_logs(input: {logs: [{flow_run_id: \"%s\", info: $j}]}) { success } }"
             % flow_run_id, {"j": {"x": 1}})
    assert stored_info(gql, flow_run_id)["x"] == 1


# --- TestDateTimeScalar, TestDateTimeScalarGraphQL ----------------------------------------------------

MAPPED = "query($id: UUID!) { mapped_children(task_run_id: $id) { min_start_time max_end_time } }"


def _scheduled(gql, run_id):
    return row(gql, "flow_run", run_id, "scheduled_start_time")["scheduled_start_time"]


def test_datetime_scalar_serialize_creates_string(gql, running_flow_run_id, task_id):
    child = get_or_create_task_run(gql, running_flow_run_id, task_id, map_index=0)
    set_task_run_state(gql, child, Running())
    parent = get_or_create_task_run(gql, running_flow_run_id, task_id)
    out = gql.data(MAPPED, {"id": parent})["mapped_children"]["min_start_time"]
    assert isinstance(out, str)
    assert pendulum.parse(out) == pendulum.parse(row(gql, "task_run", child, "start_time")["start_time"])


def test_datetime_scalar_value_parser_loads_dt_from_string(gql, flow_id):
    dt = pendulum.now()
    run_id = gql.create_flow_run(flow_id=flow_id, scheduled_start_time=dt.isoformat())
    assert pendulum.parse(_scheduled(gql, run_id)) == dt


def test_datetime_scalar_as_output(gql, flow_id):
    sent = pendulum.datetime(2020, 1, 1, 1, tz="EST")
    run_id = gql.create_flow_run(flow_id=flow_id, scheduled_start_time=sent.isoformat())
    out = _scheduled(gql, run_id)
    # an ISO 8601 string of the same instant (this backend answers it in UTC, with microseconds)
    assert pendulum.parse(out) == sent and out == "2020-01-01T06:00:00.000000+00:00"


def test_datetime_scalar_input_as_query_string(gql, flow_id):
    answer = gql.data('mutation { create_flow_run(input: {flow_id: "%s", scheduled_start_time: '
                      '"2018-01-01T01:00:00-05:00"}) { id } }' % flow_id)
    out = pendulum.parse(_scheduled(gql, answer["create_flow_run"]["id"]))
    assert out.year == 2018 and out == pendulum.datetime(2018, 1, 1, 6)


def test_datetime_scalar_input_as_variable(gql, flow_id):
    answer = gql.data("mutation($dt: DateTime) { create_flow_run(input: {flow_id: \"%s\", scheduled_start_time: $dt})"
                      " { id } }" % flow_id, {"dt": pendulum.datetime(2018, 1, 1, 1, tz="EST").isoformat()})
    out = pendulum.parse(_scheduled(gql, answer["create_flow_run"]["id"]))
    assert out.year == 2018 and out == pendulum.datetime(2018, 1, 1, 6)


# --- TestUUIDScalar, TestUUIDScalarGraphQL ------------------------------------------------------------

test_server_case_not_ported = skipped_cases({
    "TestUUIDScalar::test_uuid_scalar_serialize_converts_to_string":
        "a Server internal: its Python serializer given a uuid.UUID object; over HTTP every id is a "
        "string already (test_uuid_scalar_output)",
})

INFO = "query($uuid: UUID!) { get_task_run_info(task_run_id: $uuid) { id } }"


def test_uuid_scalar_serialize_is_pass_through(gql, flow_run_id, task_id, task_run_id):
    body = gql.data("mutation($input: get_or_create_task_run_info_input!) { get_or_create_task_run_info(input: $input)"
                    " { id } }", {"input": {"flow_run_id": flow_run_id, "task_id": task_id}})
    assert body["get_or_create_task_run_info"]["id"] == task_run_id


def test_uuid_scalar_value_parser_passes_through(gql, task_run_id):
    assert gql.data(INFO, {"uuid": task_run_id})["get_task_run_info"]["id"] == task_run_id


def test_uuid_scalar_value_parser_validates_uuid(gql):
    assert "Could not parse UUID" in error(gql.post(INFO, {"uuid": "x"}).json())


def test_uuid_scalar_output(gql, task_run_id):
    out = gql.data(INFO, {"uuid": task_run_id})["get_task_run_info"]["id"]
    assert isinstance(out, str) and out == task_run_id


def test_uuid_scalar_input_as_query_string(gql, task_run_id):
    answer = gql.data('query { get_task_run_info(task_run_id: "%s") { id } }' % task_run_id)
    assert answer["get_task_run_info"]["id"] == task_run_id


def test_uuid_scalar_input_as_query_string_validates(gql):
    assert "invalid value" in error(gql.post('query { get_task_run_info(task_run_id: "hello") { id } }').json())


def test_uuid_scalar_input_as_variable(gql, task_run_id):
    answer = gql.data("query($uuid: UUID!) { get_task_run_info(task_run_id: $uuid) { id } }", {"uuid": task_run_id})
    assert answer["get_task_run_info"]["id"] == task_run_id


def test_uuid_scalar_input_as_variable_validates(gql):
    message = error(gql.post("query($uuid: UUID!) { get_task_run_info(task_run_id: $uuid) { id } }",
                             {"uuid": "hello"}).json())
    assert "invalid value" in message


def test_uuid_scalar_input_as_variable_validates_object(gql):
    message = error(gql.post("query($uuid: UUID!) { get_task_run_info(task_run_id: $uuid) { id } }",
                             {"uuid": {"a": 1}}).json())
    assert "invalid value" in message and "Could not parse UUID" in message


# --- test_custom_scalar_inline ----------------------------------------------------------------------

def test_custom_scalar_inline(gql, flow_run_id):
    # a UUID literal and a JSON variable side by side in one input object
    gql.data('mutation($j: JSON!) { write_run_logs(input: {logs: [{flow_run_id: "%s", info: $j}]}) { success } }'
             % flow_run_id, {"j": {"x": 1}})
    answer = gql.data('query { log(where: {flow_run_id: {_eq: "%s"}}) { flow_run_id info } }' % flow_run_id)["log"]
    assert answer == [{"flow_run_id": flow_run_id, "info": {"x": 1}}]


# --- beyond Server's own file ---------------------------------------------------------------------

@pytest.mark.parametrize("value", [12345678901234567890123, -0.5, None, "text", [1, 2.5, {"a": True}]])
def test_json_round_trips_exactly(gql, flow_run_id, value):
    gql.data(WRITE_LOG, {"input": {"logs": [{"flow_run_id": flow_run_id, "message": "m", "info": value}]}})
    assert json.dumps(stored_info(gql, flow_run_id)) == json.dumps(value)


@pytest.mark.parametrize("literal,expected", [('"1.0"', 1.0), ('"{\\"a\\": 2}"', {"a": 2}), ('"[1, \\"x\\"]"', [1, "x"]),
                                              ('"\\"s\\""', "s"), ("{a: 2}", {"a": 2}), ("3", 3)])
def test_json_string_literals_are_json_text(gql, flow_run_id, literal, expected):
    write_literal(gql, flow_run_id, literal)
    assert stored_info(gql, flow_run_id) == expected


def test_a_json_string_literal_that_is_not_json_is_refused(gql, flow_run_id):
    errors = gql.errors('mutation { write_run_logs(input: {logs: [{flow_run_id: "%s", info: "not json"}]}) '
                        '{ success } }' % flow_run_id)
    assert "Invalid JSON value" in errors[0]["message"]


def test_datetime_keeps_the_instant_and_microseconds(gql, flow_id):
    sent = "2031-04-05T06:07:08.123456+02:00"
    run_id = gql.create_flow_run(flow_id=flow_id, scheduled_start_time=sent)
    got = _scheduled(gql, run_id)
    assert pendulum.parse(got) == pendulum.parse(sent) and got.endswith("04:07:08.123456+00:00")
