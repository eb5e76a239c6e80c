"""The cost of a `GET /metrics` scrape with many flow runs (figures only, never pass/fail).

A SQLite database is filled with RUNS flow runs (rows written straight into the file, as
bench_scale.py does: through the API it would take minutes): LIVE of them Running or
Submitted by one of AGENTS agents, the rest finished. An embedded backend then serves it and
is scraped SCRAPES times, one after the other; the median and p95 of the scrape's wall time
are printed, beside those of a scrape of an empty database.

Usage (from the repository root): python benchmarks/bench_metrics.py [--runs 100000]
"""
import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import List

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LIVE = 1_000
AGENTS = 4
SCRAPES = 50


def _post(url: str, query: str, variables: dict) -> dict:
    answer = requests.post(url, json={"query": query, "variables": json.dumps(variables)}, timeout=30).json()
    assert "errors" not in answer, answer
    return answer["data"]


def _register(url: str) -> None:
    from prefect.utilities.graphql import compress

    project = _post(url, "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
                    {"input": {"name": "bench-metrics"}})["create_project"]["id"]
    flow = {"name": "scraped", "tasks": [{"slug": "a-1"}], "edges": [], "parameters": []}
    _post(url, "mutation($input: create_flow_from_compressed_string_input!) "
               "{ create_flow_from_compressed_string(input: $input) { id } }",
          {"input": {"project_id": project, "serialized_flow": compress(flow)}})
    for i in range(AGENTS):
        _post(url, "mutation($input: register_agent_input!) { register_agent(input: $input) { id } }",
              {"input": {"name": f"bench-agent-{i}", "type": "LocalAgent", "labels": []}})


def _fill(database: Path, runs: int) -> None:
    now = "2026-01-01T00:00:00.000000+00:00"
    with sqlite3.connect(str(database)) as conn:
        tenant_id, flow_id, group_id = conn.execute("SELECT tenant_id, id, flow_group_id FROM flow").fetchone()
        agents = [row[0] for row in conn.execute("SELECT id FROM agent")]
        rows = []
        for i in range(runs):
            state = ("Running" if i % 2 else "Submitted") if i < LIVE else ("Success" if i % 10 else "Failed")
            serialized = json.dumps({"type": state, "message": "", "__version__": "1.4.1"})
            rows.append((str(uuid.uuid4()), tenant_id, flow_id, group_id, agents[i % len(agents)] if i < LIVE else None,
                         f"run-{i}", "[]", "{}", "{}", now, 0, 0, 1, state, now, serialized, now, now))
        columns = ("id, tenant_id, flow_id, flow_group_id, agent_id, name, labels, parameters, context, "
                   "scheduled_start_time, auto_scheduled, times_resurrected, version, state, state_timestamp, "
                   "serialized_state, created, updated")
        conn.executemany(f"INSERT INTO flow_run ({columns}) VALUES ({', '.join('?' * 18)})", rows)


def _scrapes(url: str) -> List[float]:
    times = []
    for _ in range(SCRAPES):
        started = time.perf_counter()
        answer = requests.get(f"{url}/metrics", timeout=30)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200 and "tasks_flowrun_flow_runs" in answer.text
    return times


def _line(what: str, times: List[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"{what:<48} median {statistics.median(times) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


def main() -> int:
    from tasks_flowrun.server.embedded import EmbeddedServer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "metrics.db"
        with EmbeddedServer(database=database) as server:
            _register(server.url)
            empty = _scrapes(server.url)
        started = time.monotonic()
        _fill(database, args.runs)
        print(f"filled {args.runs:,} runs in {time.monotonic() - started:.1f} s", file=sys.stderr)
        with EmbeddedServer(database=database) as server:
            full = _scrapes(server.url)
    print(_line("scrape, no runs", empty))
    print(_line(f"scrape, {args.runs:,} runs ({LIVE:,} live, {AGENTS} agents)", full))
    return 0


if __name__ == "__main__":
    sys.exit(main())
