"""The mutations of the Prefect UI's flow Settings page, with the UI's own variable types.

The UI declares each mutation's input with Prefect Server's name for it, which is the
mutation's name plus `_input` (`enable_flow_heartbeat_input`, not a shared `flow_id_input`);
a document naming a type the schema lacks fails validation as a whole.
"""
import uuid
from pathlib import Path
from typing import Any, Dict

import pytest
from prefect import Client

from tasks_flowrun.demo.register import register_file
from tests.ui.pages import UiClient, op

FAN_OUT = Path(__file__).resolve().parents[2] / "examples" / "parent_flows" / "fan_out.py"


@pytest.fixture(scope="module")
def flow(server, backend_env) -> Dict[str, Any]:
    client = Client()
    project = f"ui-settings-{uuid.uuid4().hex[:8]}"
    client.create_project(project)
    flow_id = register_file(client, FAN_OUT, project)["fan-out-parent"]
    ui = UiClient(server.url)
    group = ui.one("query ($id: uuid!) { flow_by_pk(id: $id) { flow_group_id } }", {"id": flow_id})
    return {"ui": ui, "flow_id": flow_id, "flow_group_id": group["flow_by_pk"]["flow_group_id"]}


def _settings(ui: UiClient, flow_group_id: str) -> Dict[str, Any]:
    data = ui.one("query ($id: uuid!) { flow_group_by_pk(id: $id) { settings schedule } }", {"id": flow_group_id})
    return data["flow_group_by_pk"]


@pytest.mark.parametrize("action", ["disable", "enable"])
def test_heartbeat_and_lazarus_toggles(flow, action):
    ui: UiClient = flow["ui"]
    names = [f"{action}_flow_heartbeat", f"{action}_flow_lazarus_process"]
    results = ui.batch(*(op(f"mutation ($input: {name}_input!) {{ {name}(input: $input) {{ success error }} }}",
                            {"input": {"flow_id": flow["flow_id"]}}) for name in names))
    assert [result[name]["success"] for name, result in zip(names, results)] == [True, True]
    settings = _settings(ui, flow["flow_group_id"])["settings"]
    assert settings["heartbeat_enabled"] is settings["lazarus_enabled"] is (action == "enable")


def test_delete_flow_group_schedule(flow):
    ui: UiClient = flow["ui"]
    ui.one("mutation ($input: set_flow_group_schedule_input!) { set_flow_group_schedule(input: $input) "
           "{ success error } }",
           {"input": {"flow_group_id": flow["flow_group_id"], "interval_clocks": [{"interval": 3600}]}})
    assert _settings(ui, flow["flow_group_id"])["schedule"]
    data = ui.one("mutation DeleteFlowGroupSchedule($input: delete_flow_group_schedule_input!) { "
                  "delete_flow_group_schedule(input: $input) { success error } }",
                  {"input": {"flow_group_id": flow["flow_group_id"]}})
    assert data["delete_flow_group_schedule"]["success"] is True
    assert _settings(ui, flow["flow_group_id"])["schedule"] is None


def test_delete_flow_group_with_servers_input_name(flow):
    ui: UiClient = flow["ui"]
    data = ui.one("mutation ($input: delete_flow_group_input!) { delete_flow_group(input: $input) { success } }",
                  {"input": {"flow_group_id": flow["flow_group_id"]}})
    assert data["delete_flow_group"]["success"] is True
    assert ui.one("query ($id: uuid!) { flow_by_pk(id: $id) { id } }", {"id": flow["flow_id"]})["flow_by_pk"] is None


def test_the_agents_page_can_delete_an_agent(server):
    """The agents page's delete: `success` says whether the agent existed."""
    import requests

    def post(query, variables):
        return requests.post(server.url, json={"query": query, "variables": variables}, timeout=10).json()

    registered = post("mutation($input: register_agent_input!) { register_agent(input: $input) { id } }",
                      {"input": {"type": "LocalAgent", "name": "to-delete", "labels": ["x"]}})
    agent_id = registered["data"]["register_agent"]["id"]
    delete = "mutation($input: delete_agent_input!) { delete_agent(input: $input) { success } }"
    assert post(delete, {"input": {"agent_id": agent_id}})["data"]["delete_agent"]["success"] is True
    assert post(delete, {"input": {"agent_id": agent_id}})["data"]["delete_agent"]["success"] is False
    listed = post("query { agent { id } }", None)["data"]["agent"]
    assert agent_id not in {a["id"] for a in listed}
