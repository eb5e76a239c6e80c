"""Backend: runs created per second by one client, and `get_runs_in_queue` with 10,000 runs.

The figures are compared with the targets of docs/architecture.md ("Performance targets").

Mutations per second: one `requests.Session` posts, one after the other, exactly the body
`prefect.Client.create_flow_run` sends (the same document text, `variables` as a JSON
string, the `X-PREFECT-CORE-VERSION` header) for the 3-task child flow, each with a distinct
idempotency key and a label no agent has. RUNS = 10,000 of them, timed from the first
request to the last response; every response is checked for an id. The rate of the first
1,000 is printed too (the table shows the rate over all 10,000).

Queue latency: those 10,000 runsQueue latency: those 10,000 runs are now Scheduled and due (created without a start time),
so the database holds 10,000 scheduled runs (plus the few hundred created by the other
benchmarks). The same session then posts the LocalAgent's own `get_runs_in_queue` mutation
(its document text and input: `before` = now + 10 s, `labels`, `tenant_id`) QUERIES times,
and the round trip of each is timed on the client. Two cases: an agent whose labels match
all 10,000 runs (the answer is the 25 oldest), and an agent whose labels match none of them
(the backend must rule out all 10,000).

Then one client, through each side's own client code (same flow, same run): ours is
`tasks_flowrun.client.create_flow_runs` with BULK_RUNS = 5,000 runs (it sends one
`create_flow_runs` request per 500 runs, each one transaction); the peer is Prefect 1.4.1's
`prefect.Client.create_flow_run`, what its `create_flow_run` task sends, PEER_RUNS = 1,000
times one after the other (its client has no way to send several). Both time from the first
request to the last answer, with distinct idempotency keys and a label no agent has; the
ratio is ours / peer in runs per second (above 1: ours creates more per second).
"""
import json
import time
import uuid
from typing import List

import pendulum

from common import NO_AGENT, Bench, Row, median, percentile, say

RUNS = 10_000
BULK_RUNS = 5_000
PEER_RUNS = 1_000
QUERIES = 200
CREATE = "mutation($input: create_flow_run_input!) {\n    create_flow_run(input: $input) {\n        id\n    }\n}"
QUEUE = "mutation($input: get_runs_in_queue_input!) {\n    get_runs_in_queue(input: $input) {\n        flow_run_ids\n    }\n}"


def _session():
    import prefect
    import requests

    session = requests.Session()
    session.headers.update({"X-PREFECT-CORE-VERSION": str(prefect.__version__)})
    return session


def create_rate(bench: Bench, session) -> dict:
    flow_id = bench.register("child.py")
    prefix = uuid.uuid4().hex
    times = []
    started = time.perf_counter()
    for i in range(RUNS):
        variables = {"input": {"flow_id": flow_id, "idempotency_key": f"{prefix}-{i}", "labels": [NO_AGENT]}}
        resp = session.post(bench.url, json={"query": CREATE, "variables": json.dumps(variables)}, timeout=30)
        body = resp.json()
        if resp.status_code != 200 or not ((body.get("data") or {}).get("create_flow_run") or {}).get("id"):
            raise RuntimeError(f"create_flow_run #{i} failed: HTTP {resp.status_code} {str(body)[:500]}")
        if i == 999:
            times.append(time.perf_counter() - started)
    elapsed = time.perf_counter() - started
    first = 1000 / times[0]
    say(f"create_flow_run: {RUNS} mutations in {elapsed:.1f} s = {RUNS / elapsed:.0f}/s "
        f"(first 1,000: {first:.0f}/s)")
    return {"rate": RUNS / elapsed, "first_1000": first}


def client_rates(bench: Bench) -> dict:
    from tasks_flowrun.client import create_flow_runs

    flow_id = bench.register("child.py")
    prefix = uuid.uuid4().hex
    runs = [{"flow_id": flow_id, "idempotency_key": f"{prefix}-bulk-{i}", "labels": [NO_AGENT]}
            for i in range(BULK_RUNS)]
    started = time.perf_counter()
    ids = create_flow_runs(bench.client, runs)
    ours = BULK_RUNS / (time.perf_counter() - started)
    if len(set(ids)) != BULK_RUNS:
        raise RuntimeError(f"create_flow_runs returned {len(set(ids))} distinct ids for {BULK_RUNS} runs")
    started = time.perf_counter()
    for i in range(PEER_RUNS):
        bench.client.create_flow_run(flow_id=flow_id, idempotency_key=f"{prefix}-peer-{i}", labels=[NO_AGENT])
    peer = PEER_RUNS / (time.perf_counter() - started)
    say(f"one client: tasks_flowrun create_flow_runs {BULK_RUNS} runs at {ours:.0f}/s; "
        f"prefect.Client.create_flow_run {PEER_RUNS} runs at {peer:.0f}/s")
    return {"ours": ours, "peer": peer}


def queue_latency(bench: Bench, session, labels: List[str]) -> List[float]:
    tenant_id = bench.client.tenant_id
    latencies, answered = [], None
    for _ in range(QUERIES):
        variables = {"input": {"before": pendulum.now("UTC").add(seconds=10).isoformat(),
                               "labels": labels, "tenant_id": tenant_id}}
        t0 = time.perf_counter()
        resp = session.post(bench.url, json={"query": QUEUE, "variables": json.dumps(variables)}, timeout=30)
        latencies.append(time.perf_counter() - t0)
        body = resp.json()
        if resp.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"get_runs_in_queue failed: HTTP {resp.status_code} {str(body)[:500]}")
        answered = len(body["data"]["get_runs_in_queue"]["flow_run_ids"])
    say(f"get_runs_in_queue labels={labels}: {answered} ids per answer; median "
        f"{median(latencies) * 1000:.1f} ms, p95 {percentile(latencies, 95) * 1000:.1f} ms")
    return latencies


def _scheduled_runs(bench: Bench) -> int:
    data = bench.client.graphql({"query": {'flow_run(where: {state: {_eq: "Scheduled"}})': {"id"}}})
    return len(data.data.flow_run)


def run(bench: Bench) -> List[Row]:
    session = _session()
    created = create_rate(bench, session)
    try:
        say(f"scheduled runs in the database: {_scheduled_runs(bench)}")
    except Exception as exc:  # informative only
        say(f"(could not count scheduled runs: {exc})")
    matching = queue_latency(bench, session, [NO_AGENT])
    other = queue_latency(bench, session, ["bench-other-agent"])
    clients = client_rates(bench)  # after the queue figures: its runs are not among the 10,000
    ms = lambda values, q: percentile(values, q) * 1000  # noqa: E731
    within = lambda o, p: o <= 50.0  # noqa: E731
    return [
        Row("backend: create_flow_run mutations/s, 1 client, one run per request", created["rate"], None, "/s",
            "-", None, digits=0),
        Row("backend: runs created/s, 1 client (ours: create_flow_runs; peer: prefect.Client)", clients["ours"],
            clients["peer"], "/s", ">= 500/s", lambda o, p: o >= 500, digits=0),
        Row("backend: get_runs_in_queue, 10k due runs match, median", ms(matching, 50), None, "ms", "<= 50 ms", within, 1),
        Row("backend: get_runs_in_queue, 10k due runs match, p95", ms(matching, 95), None, "ms", "<= 50 ms", within, 1),
        Row("backend: get_runs_in_queue, 10k runs, none match, median", ms(other, 50), None, "ms", "<= 50 ms", within, 1),
        Row("backend: get_runs_in_queue, 10k runs, none match, p95", ms(other, 95), None, "ms", "<= 50 ms", within, 1),
    ]
