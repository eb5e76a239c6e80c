"""Fan-out: wall time and API requests to create N mapped children, ours vs peer.

How: each side gets its own parent flow run, created on the backend (a run of
`flows/parent_stub.py`). For map index i = 0..N-1 the create task's `run()` is called inside
`prefect.context(flow_run_id=<parent>, flow_run_name=<parent name>, task_run_id=<fresh
uuid>, task_slug=..., map_index=i, running_with_backend=True, task_run_count=1)` — the
context a mapped task run has in a `CloudFlowRunner` (each mapped child its own task run
id), which is what both tasks derive their default idempotency key and run name from (and
ours, whether this is a first run: one read of the parent's states per parent run). Calls are sequential, as Prefect's
default `LocalExecutor` runs mapped children. Both sides get the same arguments: the child
flow by name + project, `parameters={"x": i}` and a label no agent has.

Not counted, for either side: the task-run state updates the flow runner itself would
send, and log shipping (disabled in this process). The server's counter is reset before
each side; nothing else talks to the backend meanwhile. Two rounds, in alternating order
(ours first, then peer first), after a 5-child warm-up per side; the figure is their mean.
"""
import logging
import time
import uuid
from typing import Any, Callable, Dict, List

from common import NO_AGENT, Bench, Row, say

N = 200
ROUNDS = 2
WARMUP = 5


def _parent(bench: Bench) -> Dict[str, str]:
    flow_id = bench.register("parent_stub.py")
    run_id = bench.client.create_flow_run(flow_id=flow_id, labels=[NO_AGENT])
    name = bench.client.get_flow_run_info(run_id).name
    return {"flow_id": flow_id, "id": run_id, "name": name}


def _fan_out(bench: Bench, create: Callable[..., str], n: int) -> Dict[str, Any]:
    import prefect

    parent = _parent(bench)
    logger = logging.getLogger("bench.fanout")
    bench.server.stats.reset()
    started = time.perf_counter()
    ids: List[str] = []
    for i in range(n):
        with prefect.context(
            flow_id=parent["flow_id"],
            flow_run_id=parent["id"],
            flow_run_name=parent["name"],
            task_run_id=str(uuid.uuid4()),
            task_name="create_flow_run",
            task_slug="create_flow_run-1",
            map_index=i,
            running_with_backend=True,
            task_run_count=1,
            logger=logger,
        ):
            ids.append(
                create(flow_name="bench-child", project_name=bench.project, parameters={"x": i}, labels=[NO_AGENT])
            )
    elapsed = time.perf_counter() - started
    snap = bench.server.stats.snapshot()
    if len(set(ids)) != n:
        raise RuntimeError(f"expected {n} distinct children, got {len(set(ids))}")
    return {"seconds": elapsed, "requests": snap["requests"], "fields": snap["fields"]}


def run(bench: Bench) -> List[Row]:
    from prefect.tasks.prefect import create_flow_run as peer_task

    from tasks_flowrun import create_flow_run as our_task

    bench.register("child.py")
    sides = {"ours": our_task.run, "peer": peer_task.run}
    for name, create in sides.items():
        _fan_out(bench, create, WARMUP)
    results: Dict[str, List[Dict[str, Any]]] = {"ours": [], "peer": []}
    for round_no in range(ROUNDS):
        order = ["ours", "peer"] if round_no % 2 == 0 else ["peer", "ours"]
        for name in order:
            result = _fan_out(bench, sides[name], N)
            results[name].append(result)
            say(
                f"fan-out round {round_no + 1} {name}: {N} children in {result['seconds']:.2f} s, "
                f"{result['requests']} requests ({result['requests'] / N:.2f}/child) {result['fields']}"
            )

    def mean(name: str, key: str) -> float:
        return sum(r[key] for r in results[name]) / len(results[name])

    ours_s, peer_s = mean("ours", "seconds"), mean("peer", "seconds")
    ours_r, peer_r = mean("ours", "requests") / N, mean("peer", "requests") / N
    return [
        Row(f"fan-out: wall time to create {N} children", ours_s, peer_s, "s",
            ">= 3x faster (ratio <= 0.33)", lambda o, p: p is not None and o * 3 <= p),
        Row("fan-out: children created per second", N / ours_s, N / peer_s, "/s", digits=1),
        Row("fan-out: API requests per child", ours_r, peer_r, "", "<= 1.1 (peer ~3)", lambda o, p: o <= 1.1),
    ]
