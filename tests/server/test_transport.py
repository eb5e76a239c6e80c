"""HTTP transport and GraphQL response shape, exactly as the Prefect 1.4.1 client sends and reads them."""
import json
import uuid

import pendulum
import pytest
import requests

from tests.server.support import GraphQL, assert_clean_message, unique

CREATE_PROJECT = "mutation($input: create_project_input!) { create_project(input: $input) { id } }"


def test_health_answers_200(server):
    resp = requests.get(server.url + "/health", timeout=10)
    assert resp.status_code == 200


@pytest.mark.parametrize("path", ["/", "/graphql", "/graphql/"])
def test_hello_on_every_graphql_path(gql: GraphQL, path: str):
    data = gql.data("query { hello }", path=path)
    assert list(data) == ["hello"]
    assert data["hello"]


def test_hello_without_spaces_as_prefect_server_start_sends_it(gql: GraphQL):
    assert gql.data("query{hello}")["hello"]


@pytest.mark.parametrize("variables_as", ["string", "object", "absent"])
def test_variables_as_json_string_object_or_absent(gql: GraphQL, tenant_id: str, variables_as: str):
    name = unique("vars")
    variables = {"input": {"name": name, "description": None, "tenant_id": tenant_id}}
    data = gql.data(CREATE_PROJECT, variables, variables_as="object" if variables_as == "absent" else variables_as)
    project_id = data["create_project"]["id"]
    assert uuid.UUID(project_id)

    # A document without variables: the client sends the literal string "null" (or nothing).
    query = 'query { project(where: {name: {_eq: %s}}) { id name } }' % json.dumps(name)
    sent_as = "string" if variables_as == "string" else variables_as
    assert gql.data(query, None, variables_as=sent_as)["project"] == [{"id": project_id, "name": name}]


def test_one_default_tenant_with_uuid_and_slug(gql: GraphQL, client):
    tenants = gql.data("query { tenant { id slug } }")["tenant"]
    assert len(tenants) == 1, tenants
    (tenant,) = tenants
    assert set(tenant) == {"id", "slug"}
    assert str(uuid.UUID(tenant["id"])) == tenant["id"]
    assert tenant["slug"] == "default"
    # The real client finds it (lazy tenant lookup) and builds URLs from its slug.
    assert client.tenant_id == tenant["id"]
    assert "/default/flow-run/abc" in client.get_cloud_url("flow-run", "abc")


def test_duplicate_project_is_a_uniqueness_violation_with_http_200(gql: GraphQL, client, tenant_id: str):
    name = unique("dup")
    first = gql.data(CREATE_PROJECT, {"input": {"name": name, "tenant_id": tenant_id}})["create_project"]["id"]

    resp = gql.post(CREATE_PROJECT, {"input": {"name": name, "tenant_id": tenant_id}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["errors"][0]["message"] == "Uniqueness violation."

    # The real client turns that error into "return the existing project" (it string-matches the message).
    assert client.create_project(name) == first
    projects = gql.data('query { project(where: {name: {_eq: %s}}) { id } }' % json.dumps(name))["project"]
    assert projects == [{"id": first}]


def _walk_keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_keys(item)


def test_flow_run_view_selection_is_returned_exactly(gql: GraphQL, make_flow):
    """G1, the query FlowRunView sends: exactly these keys, nested ones too, and no __typename."""
    flow = make_flow(n_tasks=2)
    run_id = gql.create_flow_run(flow_id=flow.id, parameters={"x": 1})
    data = gql.data(
        'query { flow_run(where: { id: { _eq: %s } }) { id name flow_id serialized_state '
        'states { serialized_state timestamp } labels parameters context updated run_config } }' % json.dumps(run_id)
    )
    (row,) = data["flow_run"]
    assert set(row) == {
        "id", "name", "flow_id", "serialized_state", "states", "labels", "parameters", "context", "updated", "run_config",
    }
    assert row["states"] and all(set(s) == {"serialized_state", "timestamp"} for s in row["states"])
    assert "__typename" not in set(_walk_keys(data))


def test_task_run_and_flow_view_selections_are_returned_exactly(gql: GraphQL, make_flow):
    flow = make_flow(n_tasks=2)
    run_id = gql.create_flow_run(flow_id=flow.id)
    task_runs = gql.data(
        'query { task_run(where: { flow_run_id: { _eq: %s } }) { id name task { id slug } map_index '
        'serialized_state flow_run_id } }' % json.dumps(run_id)
    )["task_run"]
    assert len(task_runs) == 2
    for row in task_runs:
        assert set(row) == {"id", "name", "task", "map_index", "serialized_state", "flow_run_id"}
        assert set(row["task"]) == {"id", "slug"}

    flows = gql.data(
        'query { flow(where: { id: { _eq: %s } }) { id settings run_config serialized_flow name archived '
        'project { name } core_version storage flow_group { labels } } }' % json.dumps(flow.id)
    )["flow"]
    (row,) = flows
    assert set(row) == {
        "id", "settings", "run_config", "serialized_flow", "name", "archived", "project", "core_version", "storage",
        "flow_group",
    }
    assert row["project"] == {"name": flow.project}
    assert set(row["flow_group"]) == {"labels"}
    assert "__typename" not in set(_walk_keys(flows)) and "__typename" not in set(_walk_keys(task_runs))


def test_real_views_construct_from_the_answers(gql: GraphQL, make_flow):
    """The views pass the answer as **kwargs to their constructors: any extra key is a TypeError."""
    from prefect.backend import FlowRunView, FlowView, TaskRunView

    flow = make_flow(n_tasks=1)
    run_id = gql.create_flow_run(flow_id=flow.id, parameters={"p": 1}, context={"c": "d"})
    view = FlowRunView.from_flow_run_id(run_id)
    assert view.flow_run_id == run_id
    assert view.flow_id == flow.id
    assert type(view.state).__name__ == "Scheduled"
    assert view.parameters == {"p": 1}
    assert view.context == {"c": "d"}
    assert [type(s).__name__ for s in view.states] == ["Scheduled"]

    assert FlowView.from_flow_id(flow.id).name == flow.name
    assert FlowView.from_flow_name(flow.name, project_name=flow.project).flow_id == flow.id

    (task_run_id,) = view.get_task_run_ids()
    task_view = TaskRunView.from_task_run_id(task_run_id)
    assert task_view.flow_run_id == run_id
    assert task_view.map_index == -1
    assert type(task_view.state).__name__ == "Pending"


def test_json_columns_come_back_as_json_values(gql: GraphQL, make_flow):
    from prefect.engine.state import State

    flow = make_flow(n_tasks=1, labels=["json-cols"])
    run_id = gql.create_flow_run(
        flow_id=flow.id, parameters={"a": 1, "nested": {"b": [1, 2]}}, context={"c": {"d": True}}
    )
    run = gql.data(
        'query { flow_run_by_pk(id: %s) { parameters context labels serialized_state run_config '
        'flow { settings storage run_config serialized_flow parameters } } }' % json.dumps(run_id)
    )["flow_run_by_pk"]
    assert run["parameters"] == {"a": 1, "nested": {"b": [1, 2]}}
    assert run["context"] == {"c": {"d": True}}
    assert run["labels"] == ["json-cols"]
    assert isinstance(run["serialized_state"], dict)
    assert State.deserialize(run["serialized_state"]).is_scheduled()
    assert run["run_config"] is None or isinstance(run["run_config"], dict)
    assert isinstance(run["flow"]["settings"], dict)
    assert isinstance(run["flow"]["storage"], dict) and run["flow"]["storage"]["type"] == "Local"
    assert isinstance(run["flow"]["run_config"], dict) and run["flow"]["run_config"]["type"] == "UniversalRun"
    assert isinstance(run["flow"]["serialized_flow"], dict) and run["flow"]["serialized_flow"]["name"] == flow.name
    assert isinstance(run["flow"]["parameters"], list)


def test_timestamps_are_iso_with_an_offset(gql: GraphQL, make_flow):
    flow = make_flow()
    run_id = gql.create_flow_run(flow_id=flow.id)
    run = gql.data(
        'query { flow_run(where: {id: {_eq: %s}}) { scheduled_start_time updated states { timestamp } } }'
        % json.dumps(run_id)
    )["flow_run"][0]
    for value in [run["scheduled_start_time"], run["updated"], run["states"][0]["timestamp"]]:
        assert isinstance(value, str) and value, run
        assert value.endswith("+00:00") or value.endswith("Z") or value[-6] in "+-", value
        parsed = pendulum.parse(value)
        assert abs((parsed - pendulum.now("UTC")).total_seconds()) < 120


def test_unknown_field_is_named_in_a_clean_error(gql: GraphQL):
    resp = gql.post("query { flow { id no_such_field } }")
    assert resp.status_code in (200, 400), resp.text
    errors = resp.json()["errors"]
    assert any("no_such_field" in e["message"] for e in errors), errors
    for error in errors:
        assert_clean_message(error["message"])


def test_unknown_root_field_and_syntax_error_are_clean(gql: GraphQL):
    errors = gql.errors("query { no_such_root { id } }")
    assert any("no_such_root" in e["message"] for e in errors), errors
    errors = gql.errors("query { flow { id ")
    assert errors[0]["message"]


@pytest.mark.parametrize("body", [b"this is not json", b'{"variables": "null"}', b"[1, 2]", b'{"query": 5}'])
def test_malformed_bodies_get_a_json_error_not_a_500(server, body: bytes):
    resp = requests.post(server.url + "/", data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert 400 <= resp.status_code < 500 or resp.status_code == 200, resp.status_code
    payload = resp.json()  # always JSON (the client raises "Malformed response" otherwise)
    assert payload.get("errors"), payload
    for error in payload["errors"]:
        assert_clean_message(error["message"])


def test_variables_that_are_not_valid_json_are_refused_cleanly(server):
    resp = requests.post(
        server.url + "/", json={"query": "query { hello }", "variables": "{not json"}, timeout=10
    )
    assert resp.status_code in (200, 400), resp.status_code
    errors = resp.json()["errors"]
    assert errors
    for error in errors:
        assert_clean_message(error["message"])


def test_prefect_client_graphql_round_trip(client):
    """The real `Client.graphql` (string variables, POST /) reads results by attribute."""
    result = client.graphql("query { hello }")
    assert result.data.hello
    tenants = client.graphql({"query": {"tenant": {"id", "slug"}}})
    assert tenants.data.tenant[0].id == client.tenant_id
