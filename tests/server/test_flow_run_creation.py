"""`create_flow_run` semantics (parameters, labels, idempotency, names, errors) through the real `prefect.Client` and raw GraphQL."""
import datetime
import json
import re
import uuid

import pendulum
import pytest
from prefect import Parameter
from prefect.run_configs import LocalRun
from prefect.exceptions import ClientError

from tests.helpers import run_at_once
from tests.server.support import GraphQL, flow_metadata, unique

CREATE = "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }"


def test_by_flow_id_with_the_client(client, gql: GraphQL, make_flow):
    flow = make_flow()
    run_id = client.create_flow_run(flow_id=flow.id)
    assert uuid.UUID(run_id)
    run = gql.flow_run(run_id)
    assert run["flow_id"] == flow.id
    assert run["state"] == "Scheduled"


def test_by_version_group_id_takes_the_newest_unarchived_version(client, gql: GraphQL, make_flow):
    name = unique("vg")
    v1 = make_flow(name)
    v2 = make_flow(name, n_tasks=2)
    assert v2.version_group_id == v1.version_group_id and v2.version == 2
    run_id = client.create_flow_run(version_group_id=v1.version_group_id)
    assert gql.flow_run(run_id)["flow_id"] == v2.id


def test_by_flow_group_id_in_hand_written_graphql(gql: GraphQL, make_flow):
    name = unique("fg")
    v1 = make_flow(name)
    v2 = make_flow(name, n_tasks=2)
    assert v1.flow_group_id == v2.flow_group_id
    data = gql.data('mutation { create_flow_run(input: {flow_group_id: %s}) { id } }' % json.dumps(v2.flow_group_id))
    run = gql.flow_run(data["create_flow_run"]["id"])
    assert run["flow_id"] == v2.id
    assert len(run["task_runs"]) == 2


def test_unknown_flow_group_and_version_group_are_clear_errors(gql: GraphQL):
    missing = str(uuid.uuid4())
    for key in ("flow_group_id", "version_group_id"):
        errors = gql.create_flow_run_errors(**{key: missing})
        assert missing in errors[0]["message"] or "not found" in errors[0]["message"].lower(), errors


@pytest.mark.parametrize(
    "identifiers",
    [
        [],
        ["flow_id", "version_group_id"],
        ["flow_id", "flow_group_id"],
        ["version_group_id", "flow_group_id"],
        ["flow_id", "version_group_id", "flow_group_id"],
    ],
)
def test_exactly_one_identifier_is_required(gql: GraphQL, make_flow, identifiers):
    flow = make_flow()
    values = {"flow_id": flow.id, "version_group_id": flow.version_group_id, "flow_group_id": flow.flow_group_id}
    errors = gql.create_flow_run_errors(**{key: values[key] for key in identifiers})
    message = errors[0]["message"]
    assert any(word in message for word in ("flow_id", "version_group_id", "flow_group_id")), message
    assert gql.flow_run_ids(flow.id) == []


def test_parameters_are_merged_with_defaults(client, gql: GraphQL, make_flow):
    flow = make_flow(parameters=[Parameter("a", default=1), Parameter("b", required=True)])
    run_id = client.create_flow_run(flow_id=flow.id, parameters={"b": 2})
    assert gql.flow_run(run_id)["parameters"] == {"a": 1, "b": 2}
    run_id = client.create_flow_run(flow_id=flow.id, parameters={"a": 5, "b": 2, "extra": [1]})
    assert gql.flow_run(run_id)["parameters"] == {"a": 5, "b": 2, "extra": [1]}


def test_missing_required_parameter_is_refused_and_nothing_is_written(client, gql: GraphQL, make_flow):
    flow = make_flow(parameters=[Parameter("a", default=1), Parameter("needed_param", required=True)])
    with pytest.raises(ClientError) as excinfo:
        client.create_flow_run(flow_id=flow.id, parameters={"a": 3})
    message = str(excinfo.value)
    assert "needed_param" in message and "required" in message.lower(), message

    errors = gql.create_flow_run_errors(flow_id=flow.id)
    assert "needed_param" in errors[0]["message"]
    assert gql.flow_run_ids(flow.id) == []
    assert gql.task_run_count(flow.id) == 0


def test_json_encoded_string_arguments_in_hand_written_graphql(gql: GraphQL, make_flow):
    flow = make_flow(parameters=[Parameter("a", default=1)])
    data = gql.data(
        'mutation { create_flow_run(input: { flow_id: %s, parameters: "{\\"a\\": 2}", context: "{\\"c\\": [1, 2]}" }) { id } }'
        % json.dumps(flow.id)
    )
    run = gql.flow_run(data["create_flow_run"]["id"])
    assert run["parameters"] == {"a": 2}
    assert run["context"] == {"c": [1, 2]}
    # ...and as object literals.
    data = gql.data(
        'mutation { create_flow_run(input: { flow_id: %s, parameters: {a: 3}, context: {c: {d: "e"}} }) { id } }'
        % json.dumps(flow.id)
    )
    run = gql.flow_run(data["create_flow_run"]["id"])
    assert run["parameters"] == {"a": 3}
    assert run["context"] == {"c": {"d": "e"}}


def test_unknown_flow_id_is_a_clear_error(client, gql: GraphQL):
    missing = str(uuid.uuid4())
    with pytest.raises(ClientError) as excinfo:
        client.create_flow_run(flow_id=missing)
    message = str(excinfo.value)
    assert missing in message or "not found" in message.lower(), message
    errors = gql.create_flow_run_errors(flow_id="not-a-uuid")
    assert errors[0]["message"]


def test_archived_flow_is_refused(client, gql: GraphQL, make_flow):
    name = unique("arch")
    v1 = make_flow(name)
    make_flow(name, n_tasks=2)
    assert flow_metadata(gql, v1.id)["archived"] is True
    with pytest.raises(ClientError) as excinfo:
        client.create_flow_run(flow_id=v1.id)
    assert "archived" in str(excinfo.value).lower(), str(excinfo.value)
    assert gql.flow_run_ids(v1.id) == []


def test_labels_given_else_defaults_always_sorted(client, gql: GraphQL, make_flow):
    flow = make_flow(labels=["zeta", "alpha", "mid"])
    default = client.create_flow_run(flow_id=flow.id)
    assert gql.flow_run(default)["labels"] == ["alpha", "mid", "zeta"]
    given = client.create_flow_run(flow_id=flow.id, labels=["y", "x"])
    assert gql.flow_run(given)["labels"] == ["x", "y"]
    empty = gql.create_flow_run(flow_id=flow.id, labels=[])
    assert gql.flow_run(empty)["labels"] == []
    from_run_config = client.create_flow_run(flow_id=flow.id, run_config=LocalRun(labels=["rc-b", "rc-a"]))
    run = gql.flow_run(from_run_config)
    assert run["labels"] == ["rc-a", "rc-b"]
    assert run["run_config"]["type"] == "LocalRun"


def test_flow_run_name_given_or_a_readable_generated_one(client, gql: GraphQL, make_flow):
    flow = make_flow()
    named = client.create_flow_run(flow_id=flow.id, run_name="my special run")
    assert gql.flow_run(named)["name"] == "my special run"
    names = {gql.flow_run(client.create_flow_run(flow_id=flow.id))["name"] for _ in range(3)}
    for name in names:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", name), name
    assert len(names) > 1, names


def test_context_and_run_config_are_stored(client, gql: GraphQL, make_flow):
    flow = make_flow()
    run_id = client.create_flow_run(
        flow_id=flow.id, context={"parent": "x", "n": 1}, run_config=LocalRun(env={"A": "1"}, labels=["q"])
    )
    run = gql.flow_run(run_id)
    assert run["context"] == {"parent": "x", "n": 1}
    assert run["run_config"]["env"] == {"A": "1"}


def test_one_pending_task_run_per_task_and_a_scheduled_first_state(client, gql: GraphQL, make_flow):
    from prefect.engine.state import State

    flow = make_flow(parameters=[Parameter("p", default=1)], n_tasks=3)
    run_id = client.create_flow_run(flow_id=flow.id)
    run = gql.flow_run(run_id)
    assert run["version"] == 1
    assert [s["type"] for s in run["states"]] == ["Scheduled"]
    first = State.deserialize(run["states"][0]["serialized_state"])
    assert pendulum.instance(first.start_time) == pendulum.parse(run["scheduled_start_time"])
    assert len(run["task_runs"]) == 4
    assert {tr["task"]["slug"] for tr in run["task_runs"]} == set(flow.flow.slugs.values())
    for task_run in run["task_runs"]:
        assert task_run["map_index"] == -1
        assert task_run["version"] == 1
        assert State.deserialize(task_run["serialized_state"]).is_pending()
        assert task_run["type"] == "Pending"

    # The runner's view of the same run (get_flow_run_info), through the real client.
    info = client.get_flow_run_info(run_id)
    assert info.id == run_id and info.version == 1
    assert info.state.is_scheduled()
    assert sorted(tr.task_slug for tr in info.task_runs) == sorted(flow.flow.slugs.values())


def test_scheduled_start_time_default_now_naive_means_utc_offsets_are_instants(client, gql: GraphQL, make_flow):
    flow = make_flow()
    before = pendulum.now("UTC")
    default = gql.flow_run(client.create_flow_run(flow_id=flow.id))
    assert before.subtract(seconds=5) <= pendulum.parse(default["scheduled_start_time"]) <= pendulum.now("UTC")

    naive = datetime.datetime.utcnow().replace(microsecond=123456) + datetime.timedelta(hours=3)
    run = gql.flow_run(client.create_flow_run(flow_id=flow.id, scheduled_start_time=naive))
    assert pendulum.parse(run["scheduled_start_time"]) == pendulum.instance(naive, tz="UTC")
    assert pendulum.parse(run["states"][0]["serialized_state"]["start_time"]) == pendulum.instance(naive, tz="UTC")

    with_offset = "2031-05-07T15:09:16.815228-05:00"
    run = gql.flow_run(gql.create_flow_run(flow_id=flow.id, scheduled_start_time=with_offset))
    assert pendulum.parse(run["scheduled_start_time"]) == pendulum.datetime(2031, 5, 7, 20, 9, 16, 815228, tz="UTC")


def test_idempotency_key_returns_the_same_run_and_writes_nothing_new(client, gql: GraphQL, make_flow):
    flow = make_flow(parameters=[Parameter("a", default=1)])
    first = client.create_flow_run(flow_id=flow.id, idempotency_key="same-key", parameters={"a": 1})
    second = client.create_flow_run(flow_id=flow.id, idempotency_key="same-key", parameters={"a": 99})
    assert first == second
    assert gql.flow_run_ids(flow.id) == [first]
    run = gql.flow_run(first)
    assert run["parameters"] == {"a": 1}
    assert [s["type"] for s in run["states"]] == ["Scheduled"]
    assert gql.task_run_count(flow.id) == 2
    # By version group the key maps to the same run too.
    assert client.create_flow_run(version_group_id=flow.version_group_id, idempotency_key="same-key") == first
    # A different key is a different run.
    assert client.create_flow_run(flow_id=flow.id, idempotency_key="other-key") != first


def test_idempotency_key_survives_a_new_version_of_the_same_flow_group(client, gql: GraphQL, make_flow):
    name = unique("idem-versions")
    v1 = make_flow(name)
    first = client.create_flow_run(flow_id=v1.id, idempotency_key="parent-task-run-0")
    v2 = make_flow(name, n_tasks=2)
    assert v2.flow_group_id == v1.flow_group_id
    again = client.create_flow_run(flow_id=v2.id, idempotency_key="parent-task-run-0")
    assert again == first
    assert gql.flow_run_ids(v2.id) == []


def test_the_same_key_on_different_flows_gives_different_runs(client, make_flow):
    one, two = make_flow(), make_flow()
    assert client.create_flow_run(flow_id=one.id, idempotency_key="shared") != client.create_flow_run(
        flow_id=two.id, idempotency_key="shared"
    )


def test_fifty_threads_with_one_key_create_exactly_one_run(gql: GraphQL, make_flow):
    flow = make_flow(n_tasks=2)
    key = unique("concurrent")
    results = run_at_once(lambda: GraphQL(gql.url).create_flow_run(flow_id=flow.id, idempotency_key=key), threads=50)
    assert len(set(results)) == 1
    assert gql.flow_run_ids(flow.id) == [results[0]]
    assert gql.task_run_count(flow.id) == 2
    assert [s["type"] for s in gql.flow_run(results[0])["states"]] == ["Scheduled"]
