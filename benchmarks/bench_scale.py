"""The backend at scale: 100,000 runs, and reads during a write flood.

A database of its own is filled with RUNS flow runs (rows written straight into SQLite:
filling it through the API would take minutes), then served by `tasks-flowrun server` in
its own process, as users run it. Measured against it:

- the plugin's idempotency look-up (`find_child_flow` with a key: the request a retry or a
  restarted parent sends) for keys spread over the table, median and p95 of LOOKUPS;
- the agent's queue poll (`get_runs_in_queue`), with 1,000 of the runs due;
- a trivial read (one run by id) while WRITERS threads create runs as fast as they can:
  its median and p99 over FLOOD seconds, and the creates per second meanwhile.
"""
import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, List

from common import FLOWS, Bench, Row, ServerProcess, free_port, median, percentile, say

RUNS = 100_000
DUE = 1_000
LOOKUPS = 200
WRITERS = 48
FLOOD = 10.0


def _fill(database: Path, flow: Dict[str, str], tenant_id: str) -> List[str]:
    """RUNS finished runs (DUE of them due, for a label no agent has) with default-style keys."""
    now = "2026-01-01T00:00:00.000000+00:00"
    state = json.dumps({"type": "Success", "message": "done", "__version__": "1.4.1"})
    rows, keys = [], []
    for i in range(RUNS):
        key = f"{uuid.uuid4()}:create_flow_run-1[{i % 50}]"
        keys.append(key)
        due = i < DUE
        rows.append((str(uuid.uuid4()), tenant_id, flow["id"], flow["flow_group_id"], f"run-{i}",
                     json.dumps(["bench-scale"] if due else []), "{}", "{}", key, now, 0, 0, 1,
                     "Scheduled" if due else "Success", now, now if due else None,
                     state, now, now))
    columns = ("id, tenant_id, flow_id, flow_group_id, name, labels, parameters, context, idempotency_key, "
               "scheduled_start_time, auto_scheduled, times_resurrected, version, state, state_timestamp, "
               "state_start_time, serialized_state, created, updated")
    with sqlite3.connect(str(database)) as conn:
        conn.executemany(f"INSERT INTO flow_run ({columns}) VALUES ({', '.join('?' * 19)})", rows)
    return keys


def run(bench: Bench) -> List[Row]:
    import prefect

    from tasks_flowrun.client import find_child_flow

    database = bench.home / "scale.db"
    port = free_port()
    server = ServerProcess(port, database, bench.home / "scale.log").start()
    try:
        with prefect.context(config=_pointed_at(server.url)):
            client = prefect.Client()
            client.create_project(bench.project)
            scale = _flow_row(database, _register(bench.project))
        server.stop()
        say(f"filling {RUNS:,} runs into {database} ...")
        t0 = time.monotonic()
        keys = _fill(database, scale, scale["tenant_id"])
        say(f"filled in {time.monotonic() - t0:.1f} s")
        server = ServerProcess(port, database, bench.home / "scale.log").start()
        with prefect.context(config=_pointed_at(server.url)):
            lookups = []
            for key in keys[:: RUNS // LOOKUPS][:LOOKUPS]:
                started = time.perf_counter()
                found = find_child_flow(client, flow_id=scale["id"], idempotency_key=key)
                lookups.append(time.perf_counter() - started)
                assert found.existing_run_id, "the look-up must find the run made with the key"
            queue = []
            for _ in range(50):
                started = time.perf_counter()
                ids = client.graphql('mutation { get_runs_in_queue(input: {labels: ["bench-scale"]}) '
                                     '{ flow_run_ids } }').data.get_runs_in_queue.flow_run_ids
                queue.append(time.perf_counter() - started)
            assert ids, "due runs must be in the queue"
        reads, creates = _flood(server.url, scale["id"])
    finally:
        server.stop()
    say(f"look-up at {RUNS:,} runs: median {median(lookups) * 1000:.1f} ms, p95 {percentile(lookups, 95) * 1000:.1f} ms")
    say(f"queue poll at {RUNS:,} runs: median {median(queue) * 1000:.1f} ms")
    say(f"trivial read during a write flood ({WRITERS} writers, {creates:.0f} creates/s): "
        f"median {median(reads) * 1000:.1f} ms, p99 {percentile(reads, 99) * 1000:.1f} ms, {len(reads)} reads")
    lower = lambda limit: (lambda o, p: o <= limit)  # noqa: E731
    return [
        Row(f"backend: idempotency look-up at {RUNS:,} runs, median", median(lookups) * 1000, None, "ms",
            "<= 5 ms", lower(5.0), digits=1),
        Row(f"backend: idempotency look-up at {RUNS:,} runs, p95", percentile(lookups, 95) * 1000, None, "ms",
            digits=1),
        Row(f"backend: get_runs_in_queue at {RUNS:,} runs ({DUE:,} due), median", median(queue) * 1000, None, "ms",
            "<= 50 ms", lower(50.0), digits=1),
        Row(f"backend: trivial read during a write flood ({WRITERS} writers), p99", percentile(reads, 99) * 1000,
            None, "ms", "<= 50 ms", lower(50.0), digits=1),
        Row("backend: trivial read during a write flood, median", median(reads) * 1000, None, "ms", digits=1),
        Row(f"backend: creates/s during the flood ({WRITERS} clients)", creates, None, "/s", digits=0),
    ]


def _register(project: str) -> str:
    """Register the benchmarks' child flow with the backend the context points at."""
    from prefect.storage import Local
    from prefect.utilities.storage import extract_flow_from_file

    path = FLOWS / "child.py"
    flow = extract_flow_from_file(file_path=str(path))
    flow.storage = Local(path=str(path), stored_as_script=True)
    return flow.register(project_name=project, no_url=True)


def _flow_row(database: Path, flow_id: str) -> Dict[str, str]:
    with sqlite3.connect(str(database)) as conn:
        row = conn.execute("SELECT id, flow_group_id, tenant_id FROM flow WHERE id = ?", (flow_id,)).fetchone()
    return {"id": row[0], "flow_group_id": row[1], "tenant_id": row[2]}


def _pointed_at(url: str):
    import copy

    import prefect

    config = copy.deepcopy(prefect.context.config)
    config.cloud.api = url
    config.server.endpoint = url
    config.cloud.graphql = url + "/graphql"
    return config


def _flood(url: str, flow_id: str):
    import requests

    stop = threading.Event()
    created = [0]
    create = ("mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }")

    def writer() -> None:
        session = requests.Session()
        while not stop.is_set():
            body = {"query": create, "variables": {"input": {"flow_id": flow_id, "labels": ["bench-flood"]}}}
            if session.post(url, json=body, timeout=30).ok:
                created[0] += 1

    threads = [threading.Thread(target=writer, daemon=True) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the flood is on
    session = requests.Session()
    probe = {"query": "query { tenant(limit: 1) { id } }"}
    reads: List[float] = []
    before, started = created[0], time.monotonic()
    while time.monotonic() - started < FLOOD:
        t0 = time.perf_counter()
        session.post(url, json=probe, timeout=30).raise_for_status()
        reads.append(time.perf_counter() - t0)
        time.sleep(0.02)
    rate = (created[0] - before) / (time.monotonic() - started)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return reads, rate
