"""No child under a cancelled or deleted parent (api/parents.py), over HTTP: `create_flow_run`
naming a Cancelling, Cancelled or deleted run as `context.parent_flow_run_id` is refused with
PARENT_CANCELLED / PARENT_DELETED and creates nothing; a parent the backend never knew (a
local `flow.run()`) or a restarted one is no reason to refuse."""
import json
import uuid

import pytest
import requests
from prefect.engine.state import Cancelled, Running, Scheduled

from tasks_flowrun.server.embedded import EmbeddedServer
from tests.server.test_recovery import Backend, _post
from tests.stores import fresh_database

CREATE = "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }"


@pytest.fixture
def api(tmp_path):
    with EmbeddedServer(database=fresh_database(tmp_path, "parents")) as server:
        yield Backend(server.url)


def create_child(api: Backend, parent_id: str, key: str = None) -> dict:
    input_ = {"flow_id": api.flow_id, "context": {"parent_flow_run_id": parent_id}}
    if key:
        input_["idempotency_key"] = key
    return requests.post(api.url, json={"query": CREATE, "variables": json.dumps({"input": input_})}, timeout=15).json()


def run_count(api: Backend) -> int:
    return len(_post(api.url, "query($id: uuid!) { flow_run(where: {flow_id: {_eq: $id}}) { id } }",
                     {"id": api.flow_id})["flow_run"])


@pytest.mark.parametrize("cancel_while", ["running", "scheduled"], ids=["cancelling", "cancelled"])
def test_a_child_of_a_cancelled_parent_is_refused_and_nothing_is_created(api, cancel_while):
    parent = api.new_run()
    if cancel_while == "running":
        api.start(parent)
    _post(api.url, "mutation($input: cancel_flow_run_input!) { cancel_flow_run(input: $input) { state } }",
          {"input": {"flow_run_id": parent}})
    state = api.run(parent)["state"]
    assert state == ("Cancelling" if cancel_while == "running" else "Cancelled")
    before = run_count(api)
    body = create_child(api, parent, key="child-0")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PARENT_CANCELLED", body
    assert parent in error["message"] and state in error["message"] and "Restart the parent" in error["message"]
    assert run_count(api) == before


def test_a_child_of_a_deleted_parent_is_refused(api):
    parent = api.new_run()
    assert _post(api.url, "mutation($input: delete_flow_run_input!) { delete_flow_run(input: $input) { success } }",
                 {"input": {"flow_run_id": parent}})["delete_flow_run"]["success"] is True
    before = run_count(api)
    body = create_child(api, parent)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "PARENT_DELETED" and parent in error["message"], body
    assert run_count(api) == before


def test_a_parent_the_backend_never_knew_or_one_still_alive_has_children(api):
    assert "errors" not in create_child(api, str(uuid.uuid4()))  # e.g. a local flow.run()
    parent = api.new_run()
    api.start(parent)
    assert "errors" not in create_child(api, parent)


def test_a_restarted_parent_has_children_again(api):
    parent = api.new_run()
    api.set(parent, Cancelled("cancelled"))
    assert create_child(api, parent)["errors"][0]["extensions"]["code"] == "PARENT_CANCELLED"
    api.set(parent, Scheduled("restarted"))
    api.set(parent, Running("running again"))
    assert "errors" not in create_child(api, parent)
