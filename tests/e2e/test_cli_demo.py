"""The real Prefect CLI against the embedded backend.

`prefect create project demo`, `prefect register -p hello_world.py --project demo`, then
`prefect run --name hello-world --project demo --watch` with a genuine `prefect agent local start`,
and `prefect run --name hello-world --execute` with no agent.
"""
import re
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.e2e.support import FLOWS, run_logs, wait_for_run
from tests.helpers import start_agent, stop_process
from tests.server.support import GraphQL, run_prefect

pytestmark = pytest.mark.e2e

HELLO = FLOWS / "hello_world.py"
GENUINE_AGENT_LABEL = "e2e-genuine-agent"  # set on hello-world's run config


@pytest.fixture(scope="module")
def demo(server, backend_env):
    """`prefect create project demo` + `prefect register -p hello_world.py --project demo`, once per module."""
    created = run_prefect(["create", "project", "demo"], backend_env)
    registered = run_prefect(["register", "-p", str(HELLO), "--project", "demo"], backend_env)
    return SimpleNamespace(created=created, registered=registered)


def hello_versions(gql: GraphQL):
    return gql.data(
        'query { flow(where: {name: {_eq: "hello-world"}, project: {name: {_eq: "demo"}}}, order_by: {version: asc}) '
        "{ id version archived storage } }"
    )["flow"]


def run_id_from_output(output: str) -> str:
    match = re.search(r"UUID: ([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def test_create_project_and_register_hello_world(demo, backend_env, gql: GraphQL, tmp_path: Path):
    assert demo.created.returncode == 0, demo.created.stdout
    assert "demo created" in demo.created.stdout
    assert demo.registered.returncode == 0, demo.registered.stdout
    assert "Registering 'hello-world'... Done" in demo.registered.stdout, demo.registered.stdout
    (v1,) = hello_versions(gql)
    assert (v1["version"], v1["archived"]) == (1, False)
    assert v1["storage"]["type"] == "Local" and v1["storage"]["path"] == str(HELLO)

    # Unchanged: skipped, no new version.
    again = run_prefect(["register", "-p", str(HELLO), "--project", "demo"], backend_env)
    assert again.returncode == 0, again.stdout
    assert "Skipped (metadata unchanged)" in again.stdout, again.stdout
    assert [f["id"] for f in hello_versions(gql)] == [v1["id"]]

    # Changed: a new version, the old one archived.
    changed = tmp_path / "hello_world.py"
    changed.write_text(HELLO.read_text().replace('default="world"', 'default="there"'))
    result = run_prefect(["register", "-p", str(changed), "--project", "demo"], backend_env)
    assert result.returncode == 0, result.stdout
    assert "Version: 2" in result.stdout, result.stdout
    assert [(f["version"], f["archived"]) for f in hello_versions(gql)] == [(1, True), (2, False)]

    # Registering the original script again is a change too; it becomes the one unarchived version.
    result = run_prefect(["register", "-p", str(HELLO), "--project", "demo"], backend_env)
    assert result.returncode == 0, result.stdout
    assert "Version: 3" in result.stdout, result.stdout
    rows = hello_versions(gql)
    assert [(f["version"], f["archived"]) for f in rows] == [(1, True), (2, True), (3, False)]
    assert rows[-1]["storage"]["path"] == str(HELLO)


def test_run_watch_with_the_stock_local_agent(demo, backend_env, gql: GraphQL, tmp_path: Path):
    assert demo.registered.returncode == 0, demo.registered.stdout
    agent_log = tmp_path / "stock-agent.log"
    agent = start_agent(backend_env, agent_log, labels=[GENUINE_AGENT_LABEL], fast=False)
    try:
        result = run_prefect(["run", "--name", "hello-world", "--project", "demo", "--watch"], backend_env, timeout=180)
    finally:
        stop_process(agent)
    agent_output = agent_log.read_text(errors="replace")
    assert result.returncode == 0, f"{result.stdout}\n--- agent ---\n{agent_output[-4000:]}"
    out = result.stdout
    assert "Entered state <Submitted>" in out, out
    assert "Entered state <Running>" in out, out
    assert "Entered state <Success>" in out, out
    assert "Hello, world!" in out, out  # the flow's own log line, streamed by the watcher
    assert "Flow run succeeded!" in out, out

    run_id = run_id_from_output(out)
    run = gql.flow_run(run_id)
    assert run["state"] == "Success"
    assert run["labels"] == sorted([GENUINE_AGENT_LABEL, socket.gethostname()])
    assert [s["type"] for s in run["states"]][:3] == ["Scheduled", "Submitted", "Running"]
    assert run_id in agent_output or "Deploying flow run" in agent_output, agent_output[-4000:]
    assert any("Hello, world!" in log["message"] for log in run_logs(gql, run_id))


def test_run_execute_without_an_agent(demo, backend_env, gql: GraphQL):
    assert demo.registered.returncode == 0, demo.registered.stdout
    args = ["run", "--name", "hello-world", "--execute", "--param", 'name="agentless"']
    unarchived = gql.data('query { flow(where: {name: {_eq: "hello-world"}, archived: {_eq: false}}) { id } }')["flow"]
    if len(unarchived) > 1:  # another test module registered its own hello-world elsewhere: disambiguate
        args += ["--project", "demo"]
    result = run_prefect(args, backend_env, timeout=180)
    assert result.returncode == 0, result.stdout
    assert "Flow run succeeded!" in result.stdout, result.stdout
    run_id = run_id_from_output(result.stdout)
    run = wait_for_run(gql, run_id, {"Success"}, timeout=30)
    assert len(run["labels"]) == 1 and run["labels"][0].startswith("agentless-run-"), run["labels"]
    assert run["parameters"] == {"name": "agentless"}
    assert "Submitted" not in [s["type"] for s in run["states"]]  # no agent touched it
    assert {tr["type"] for tr in run["task_runs"]} == {"Success"}
