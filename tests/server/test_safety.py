"""Bad requests: clear errors, nothing half-written; hostile strings are stored and compared literally."""
import json
import uuid

import pendulum
import pytest
from prefect.engine.state import Running
from prefect.utilities.graphql import compress

from tests.server.support import GraphQL, build_flow, unique

CREATE_FROM_STRING = (
    "mutation($input: create_flow_from_compressed_string_input!) { create_flow_from_compressed_string(input: $input) { id } }"
)
WRITE_LOGS = "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }"

HOSTILE = [
    "x'); DROP TABLE flow_run; --",
    'quote " and backslash \\ and percent % and underscore _',
    "%",
    "_",
    "*",
    "' OR '1'='1",
    "名前 with unicode \U0001f680",
]


def project_id(gql: GraphQL, name: str) -> str:
    return gql.data('query { project(where: {name: {_eq: %s}}) { id } }' % json.dumps(name))["project"][0]["id"]


def test_malformed_timestamp_is_a_clear_error_and_writes_nothing(gql: GraphQL, make_flow):
    flow = make_flow()
    errors = gql.create_flow_run_errors(flow_id=flow.id, scheduled_start_time="not-a-timestamp")
    assert "not-a-timestamp" in errors[0]["message"], errors  # names the bad value
    assert gql.flow_run_ids(flow.id) == []
    assert gql.task_run_count(flow.id) == 0


@pytest.mark.parametrize("value", ["not a time", "2021-13-45T99:00:00", ""])
def test_malformed_timestamp_in_a_filter_is_a_clear_error(gql: GraphQL, value: str):
    errors = gql.errors('query { flow_run(where: {scheduled_start_time: {_gte: %s}}) { id } }' % json.dumps(value))
    message = errors[0]["message"]
    assert (value and value in message) or "timestamp" in message.lower(), message


def test_malformed_timestamp_in_the_queue_is_a_clear_error(gql: GraphQL, tenant_id: str):
    errors = gql.errors(
        "mutation($input: get_runs_in_queue_input!) { get_runs_in_queue(input: $input) { flow_run_ids } }",
        {"input": {"tenant_id": tenant_id, "labels": [], "before": "yesterday-ish"}},
    )
    assert "yesterday-ish" in errors[0]["message"], errors


def test_invalid_uuid_is_an_error_or_null_never_a_crash(gql: GraphQL):
    resp = gql.post('query { flow_run_by_pk(id: "not-a-uuid") { id } }')
    assert resp.status_code in (200, 400), resp.text
    body = resp.json()
    assert body.get("errors") or body["data"] == {"flow_run_by_pk": None}, body


def test_edges_to_unknown_tasks_register_nothing(gql: GraphQL, project: str, tmp_path):
    name = unique("bad-edges")
    serialized = build_flow(name, n_tasks=2, storage_dir=tmp_path).serialize()
    serialized["edges"][0]["upstream_task"]["slug"] = "no-such-task"
    errors = gql.errors(
        CREATE_FROM_STRING,
        {"input": {"project_id": project_id(gql, project), "serialized_flow": compress(serialized), "set_schedule_active": False}},
    )
    assert "edge" in errors[0]["message"].lower(), errors
    assert gql.data('query { flow(where: {name: {_eq: %s}}) { id } }' % json.dumps(name))["flow"] == []


def test_undecodable_flow_is_refused_cleanly(gql: GraphQL, project: str):
    errors = gql.errors(
        CREATE_FROM_STRING,
        {"input": {"project_id": project_id(gql, project), "serialized_flow": "definitely not base64 gzip json"}},
    )
    assert errors[0]["message"]


def test_registration_into_an_unknown_project_is_refused(gql: GraphQL, tmp_path):
    name = unique("no-project")
    serialized = build_flow(name, storage_dir=tmp_path).serialize()
    gql.errors(CREATE_FROM_STRING, {"input": {"project_id": str(uuid.uuid4()), "serialized_flow": compress(serialized)}})
    assert gql.data('query { flow(where: {name: {_eq: %s}}) { id } }' % json.dumps(name))["flow"] == []


def test_unknown_state_type_is_refused_and_nothing_changes(gql: GraphQL, make_flow):
    run_id = gql.create_flow_run(flow_id=make_flow().id)
    errors = gql.errors(
        "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { id status } } }",
        {"input": {"states": [{"flow_run_id": run_id, "state": {"type": "NoSuchState", "message": "x"}}]}},
    )
    assert errors[0]["message"]
    run = gql.flow_run(run_id)
    assert run["state"] == "Scheduled" and run["version"] == 1 and len(run["states"]) == 1


def test_state_for_an_unknown_run_is_refused(gql: GraphQL):
    resp = gql.set_flow_run_state(str(uuid.uuid4()), Running())
    body = resp.json()
    assert resp.status_code == 200 and body.get("errors"), body
    assert body["errors"][0]["message"].startswith("State update failed")


def test_a_batch_of_logs_with_one_bad_entry_writes_none(gql: GraphQL, make_flow):
    run_id = gql.create_flow_run(flow_id=make_flow().id)
    now = pendulum.now("UTC").isoformat()
    gql.errors(
        WRITE_LOGS,
        {"input": {"logs": [
            {"flow_run_id": run_id, "message": "good", "level": "INFO", "timestamp": now},
            {"flow_run_id": run_id, "message": "bad", "level": "INFO", "timestamp": "not-a-timestamp"},
        ]}},
    )
    logs = gql.data('query { flow_run(where: {id: {_eq: %s}}) { logs { message } } }' % json.dumps(run_id))
    assert logs["flow_run"][0]["logs"] == []


def test_hostile_strings_are_stored_and_compared_literally(gql: GraphQL, client, make_flow, tenant_id: str):
    prefix = unique("hostile")
    names = [f"{prefix} {text}" for text in HOSTILE]
    for name in names:
        client.create_project(name)
    for name in names:
        rows = gql.data('query { project(where: {name: {_eq: %s}}) { name } }' % json.dumps(name))["project"]
        assert rows == [{"name": name}]
    # Wildcards are not patterns: an `_eq` on "%" or "_" matches only that exact name.
    assert gql.data('query { project(where: {name: {_eq: "%"}}) { name } }')["project"] == []
    assert gql.data('query { project(where: {name: {_eq: %s}}) { id } }' % json.dumps(prefix + " %"))["project"]
    assert len(gql.data('query { project(where: {name: {_in: %s}}) { id } }' % json.dumps(names))["project"]) == len(names)

    flow = make_flow(labels=HOSTILE[:2])
    run_id = client.create_flow_run(
        flow_id=flow.id, run_name=HOSTILE[0], parameters={"p": HOSTILE[1]}, context={HOSTILE[5]: HOSTILE[6]},
    )
    run = gql.flow_run(run_id)
    assert run["name"] == HOSTILE[0]
    assert run["parameters"] == {"p": HOSTILE[1]}
    assert run["context"] == {HOSTILE[5]: HOSTILE[6]}
    assert run["labels"] == sorted(HOSTILE[:2])
    by_name = gql.data('query { flow_run(where: {name: {_eq: %s}}) { id } }' % json.dumps(HOSTILE[0]))["flow_run"]
    assert [row["id"] for row in by_name] == [run_id]
    assert gql.data('query { flow_run(where: {name: {_eq: %s}}) { id } }' % json.dumps(HOSTILE[5]))["flow_run"] == []
    # Still a healthy database: the tables the hostile strings name are all there.
    assert gql.data('query { flow_run(where: {flow_id: {_eq: %s}}) { id } }' % json.dumps(flow.id))["flow_run"]
    assert gql.runs_in_queue(tenant_id, HOSTILE[:2], pendulum.now("UTC").add(seconds=10).isoformat()) == [run_id]


@pytest.mark.parametrize("document,variables", [
    ("query($o: [flow_run_order_by!]) { flow_run(order_by: $o, limit: 1) { id } }", {"o": "UNAUTHENTICATED"}),
    ('query { flow_run(where: {state: {_eq: API_ERROR}}) { id } }', None),
    ('query { flow_run(limit: "Malformed Authorization header") { id } }', None),
])
def test_an_error_quoting_a_magic_string_of_the_request_does_not_carry_it(gql: GraphQL, document, variables):
    """The Prefect client reacts to a few strings in any error message; a bad value or name that
    spells one of them is quoted without it (in lower case), in validation and execution errors."""
    message = gql.errors(document, variables)[0]["message"]  # gql.errors checks every message is clean
    assert any(m in message for m in ("unauthenticated", "api_error", "malformed")), message
