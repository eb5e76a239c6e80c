"""Acknowledged writes: a run is committed before its create is answered, and stays.

The SIGKILL test proves commit-before-acknowledge only: killing the process leaves the OS
page cache alone, so it would pass with `synchronous=OFF` too: in WAL mode the default
`synchronous=NORMAL` keeps commits across a kill of the process, and `--sqlite-synchronous
full` (an fsync at each commit, for power loss) is checked on the running server's own
connections.
"""
import json
import signal
import subprocess
import sys
import threading
import uuid

import pytest
import requests

from tests.helpers import stop_process, wait_until
from tasks_flowrun.net import free_port
from tests.stores import fresh_database

CREATE = "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }"


def _start(db_path, port):
    cmd = [sys.executable, "-m", "tasks_flowrun.cli", "server", "--port", str(port), "--database", str(db_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(url + "/health", timeout=1).ok, timeout=30, what="server up")
    return proc, url


def _post(url, query, variables=None):
    body = {"query": query, "variables": json.dumps(variables)}
    return requests.post(url, json=body, timeout=15).json()


def _register_flow(url):
    project = _post(url, "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
                    {"input": {"name": f"durable-{uuid.uuid4().hex[:6]}"}})["data"]["create_project"]["id"]
    from prefect.utilities.graphql import compress

    flow = {"name": "durable", "tasks": [{"slug": "a-1"}, {"slug": "b-1"}], "edges": [], "parameters": []}
    answer = _post(url, "mutation($input: create_flow_from_compressed_string_input!) "
                        "{ create_flow_from_compressed_string(input: $input) { id } }",
                   {"input": {"project_id": project, "serialized_flow": compress(flow)}})
    return answer["data"]["create_flow_from_compressed_string"]["id"]


def test_sigkill_mid_fan_out_loses_no_acknowledged_commit_and_retries_converge(tmp_path):
    db_path = fresh_database(tmp_path, "durable")
    port = free_port()
    proc, url = _start(db_path, port)
    flow_id = _register_flow(url)
    acknowledged = {}
    stop = threading.Event()

    def fan_out():
        for i in range(10_000):
            if stop.is_set():
                return
            try:
                answer = _post(url, CREATE, {"input": {"flow_id": flow_id, "idempotency_key": f"child-{i}"}})
            except requests.RequestException:
                return  # the server died under us: this write was never acknowledged
            acknowledged[f"child-{i}"] = answer["data"]["create_flow_run"]["id"]

    worker = threading.Thread(target=fan_out)
    worker.start()
    wait_until(lambda: len(acknowledged) >= 50, timeout=60, what="50 acknowledged creates")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    worker.join()

    proc, url = _start(db_path, port)
    try:
        stored = _post(url, "query { flow_run { id idempotency_key state } }")["data"]["flow_run"]
        by_key = {r["idempotency_key"]: r for r in stored}
        for key, run_id in acknowledged.items():
            assert by_key[key]["id"] == run_id and by_key[key]["state"] == "Scheduled"
        # Re-running the fan-out converges: one run per key, the acknowledged ids unchanged.
        total = len(acknowledged) + 5
        for i in range(total):
            answer = _post(url, CREATE, {"input": {"flow_id": flow_id, "idempotency_key": f"child-{i}"}})
            run_id = answer["data"]["create_flow_run"]["id"]
            if f"child-{i}" in acknowledged:
                assert run_id == acknowledged[f"child-{i}"]
        stored = _post(url, "query { flow_run { idempotency_key } }")["data"]["flow_run"]
        keys = [r["idempotency_key"] for r in stored]
        assert len(keys) == len(set(keys))
        assert set(f"child-{i}" for i in range(total)) <= set(keys)
        # Every stored run is whole: its Scheduled state and its two task runs were written with it.
        runs = _post(url, "query { flow_run { states { state } task_runs { id } } }")["data"]["flow_run"]
        assert all(len(r["states"]) == 1 and len(r["task_runs"]) == 2 for r in runs)
    finally:
        stop_process(proc)


@pytest.mark.sqlite_only  # the SQLite file's own durability settings
def test_the_running_servers_connections_use_wal_and_normal_sync_by_default(server):
    """Every pooled connection of the live backend runs WAL with synchronous=NORMAL (1)."""
    db = server.app.state.db
    with db.read() as first, db.read() as second, db.write() as writer:
        for conn in (first, second, writer):
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.sqlite_only
def test_sqlite_synchronous_full_makes_every_connection_fsync_on_commit(tmp_path):
    """`--sqlite-synchronous full`: every pooled connection runs synchronous=FULL (2)."""
    from tasks_flowrun.server.embedded import EmbeddedServer
    from tasks_flowrun.server.settings import ServerSettings

    settings = ServerSettings(port=free_port(), database=tmp_path / "full.db", sqlite_synchronous="full")
    with EmbeddedServer(settings=settings) as backend:
        db = backend.app.state.db
        with db.read() as first, db.read() as second, db.write() as writer:
            for conn in (first, second, writer):
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
