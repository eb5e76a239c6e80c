"""`tasks-flowrun copy-database`: a SQLite file's flows, runs, states and logs copied into an
empty database of the run's store (a PostgreSQL database on the PostgreSQL run: the move a
team makes to several server processes) read back exactly as they were."""
import subprocess
from pathlib import Path

import requests

from tasks_flowrun.server.embedded import EmbeddedServer
from tests.server.support import GraphQL
from tests.stores import fresh_database
from tests.test_cli import cli_command, cli_env

READ_BACK = """{
  project(order_by: {name: asc}) { name flows(order_by: {name: asc}) { name version archived parameters } }
  flow_run(order_by: {created: asc}) { id name state parameters context labels idempotency_key
    states(order_by: {version: asc}) { state message } task_runs(order_by: {map_index: asc}) { state map_index }
    logs(order_by: {timestamp: asc}) { message level } }
}"""


def _copy(source, target, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command() + ["copy-database", str(source), str(target)], env=cli_env(home),
                          capture_output=True, text=True, timeout=120)


def test_a_copy_reads_back_exactly_as_the_source(tmp_path):
    from prefect import Client
    from tests.scaleout.conftest import prefect_at
    from tests.server.support import build_flow

    source = tmp_path / "team.db"
    with EmbeddedServer(port=0, database=source) as server, prefect_at(server.url, tmp_path):
        Client(api_server=server.url).create_project("moved")
        storage = tmp_path / "storage"
        storage.mkdir()
        flow = build_flow("moved-flow", storage_dir=storage, n_tasks=2)
        flow_id = Client(api_server=server.url).register(flow, project_name="moved", no_url=True)
        gql = GraphQL(server.url)
        for i in range(3):
            run_id = gql.create_flow_run(flow_id=flow_id, parameters={"x": 1.0, "big": 2**70, "i": i},
                                         context={"parent_flow_run_id": "p"}, labels=["a", "b"],
                                         idempotency_key=f"key-{i}")
        gql.data('mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }',
                 {"input": {"logs": [{"flow_run_id": run_id, "message": "hello", "level": "INFO"}]}})
        before = requests.post(server.url, json={"query": READ_BACK}).json()["data"]
    assert len(before["flow_run"]) == 3 and before["flow_run"][2]["logs"][0]["message"] == "hello"

    target = fresh_database(tmp_path, "target")
    done = _copy(source, target, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "flow_run" in done.stdout and "copied" in done.stdout
    with EmbeddedServer(port=0, database=target) as server:
        after = requests.post(server.url, json={"query": READ_BACK}).json()["data"]
        raw = requests.post(server.url, json={"query": "{ flow_run(limit: 1) { parameters } }"}).text
        # one key, one run, on the copy too
        gql = GraphQL(server.url)
        assert gql.create_flow_run(flow_id=flow_id, idempotency_key="key-0") == before["flow_run"][0]["id"]
    assert after == before
    assert '"x": 1.0' in raw.replace('"x":1.0', '"x": 1.0') and str(2**70) in raw

    again = _copy(source, target, tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr, again.stderr
