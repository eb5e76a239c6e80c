"""Run links in cloud hook messages start with Prefect's `server.ui.endpoint` when it is set
(as the links Prefect's client prints), else with the backend's own address (its web page
shows the run there); each backend its own, though several share this process."""
import uuid
from pathlib import Path

from prefect.utilities.graphql import compress

from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.settings import ServerSettings
from tests.server.server_cases.hook_sink import HookSink
from tests.server.support import GraphQL
from tests.stores import fresh_database


def slack_link(server: EmbeddedServer, sink: HookSink) -> "tuple[str, str]":
    """(the link a Slack hook of `server` sends about a new run, the run's page it should be)."""
    gql = GraphQL(server.url)
    project = gql.data("mutation($input: create_project_input!) { create_project(input: $input) { id } }",
                       {"input": {"name": f"links-{uuid.uuid4().hex[:8]}"}})["create_project"]["id"]
    flow = {"name": "linked", "tasks": [{"slug": "a-1"}], "edges": [], "parameters": []}
    flow_id = gql.data("mutation($input: create_flow_from_compressed_string_input!) "
                       "{ create_flow_from_compressed_string(input: $input) { id } }",
                       {"input": {"project_id": project, "serialized_flow": compress(flow)}}
                       )["create_flow_from_compressed_string"]["id"]
    run = gql.create_flow_run(flow_id=flow_id)
    tenant = gql.data("query { tenant { id slug } }")["tenant"][0]
    hook = gql.data("mutation($input: create_cloud_hook_input!) { create_cloud_hook(input: $input) { id } }",
                    {"input": {"tenant_id": tenant["id"], "type": "SLACK_WEBHOOK", "states": ["RUNNING"],
                               "config": {"url": sink.url}}})["create_cloud_hook"]["id"]
    answer = gql.data("mutation($input: test_cloud_hook_input!) { test_cloud_hook(input: $input) { success } }",
                      {"input": {"cloud_hook_id": hook, "flow_run_id": run}})
    assert answer["test_cloud_hook"]["success"]
    lines = [block["text"]["text"] for block in sink.last()["body"]["blocks"]]
    (link,) = [line.split("*Link:* ", 1)[1] for line in lines if line.startswith("*Link:*")]
    return link, f"/{tenant['slug']}/flow-run/{run}"


def test_links_follow_each_backends_settings(tmp_path: Path) -> None:
    sink = HookSink()
    try:
        with EmbeddedServer(settings=ServerSettings(port=0, database=fresh_database(tmp_path, "ui"),
                                                    ui_url="http://ui.example:8080/")) as with_ui, \
                EmbeddedServer(database=fresh_database(tmp_path, "own")) as own:
            link, page = slack_link(with_ui, sink)
            assert link == "http://ui.example:8080" + page
            link, page = slack_link(own, sink)  # created last: its setting must not leak to the other
            assert link == own.url + page
            link, page = slack_link(with_ui, sink)
            assert link == "http://ui.example:8080" + page
    finally:
        sink.close()
