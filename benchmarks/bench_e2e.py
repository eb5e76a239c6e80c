"""End to end: a parent flow fanning out to N = 20 children through the real LocalAgent.

How: the real Prefect 1.4.1 `LocalAgent` runs in a subprocess through
`python -m tasks_flowrun.demo.agent`, which only caps the agent's idle back-off at 0.5 s (the
stock agent grows it to 10 s when it finds no work, which would add up to 10 s of
pick-up delay per wave of children, for both sides alike); the agent and every flow run it
starts ship their logs to the backend, as real runs do. Both parents are registered flows
(Local storage, stored as script) run by that agent:

- ours (`flows/parent_ours.py`): `create_flow_run.map(...)` + one bulk `wait_for_flow_run(ids)`;
- peer (`flows/parent_peer.py`): `prefect.tasks.prefect.create_flow_run.map(...)` +
  `wait_for_flow_run.map(ids)` (one wait per child), as Prefect's docs map them.

Both use Prefect's default executor (`LocalExecutor`: mapped children run one after the
other) and the same 3-task child flow. A warm-up child run goes through the agent first.
Then ROUNDS rounds, alternating which side goes first; each parent run is created with
`Client.create_flow_run` and the benchmark waits until it is finished. The figure is the
median over rounds of "parent start to parent end": from the parent's Running state to its
final state, both timestamps as recorded by the backend. Every child must end Success.
Two parts of it are shown too: parent Running -> the last child's first (Scheduled) state
(creating, while the first children already run), and the last child's final state -> the
parent's final state (how long the parent takes to notice and wrap up).
"""
import subprocess
import sys
import time
from typing import Any, Dict, List

import pendulum

from common import Bench, Row, median, say

N = 20
ROUNDS = 3
TIMEOUT = 300.0
FINISHED = {"Success", "Failed", "Cancelled", "TimedOut", "Skipped", "Cached", "TriggerFailed"}


def _start_agent(bench: Bench) -> subprocess.Popen:
    log = open(bench.home / "agent.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "tasks_flowrun.cli", "agent", "--name", "bench-agent", "--limit", str(N + 1)],
        env=bench.subprocess_env(), stdout=log, stderr=subprocess.STDOUT,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run_info(bench: Bench, flow_run_id: str) -> Dict[str, Any]:
    query = 'query { flow_run_by_pk(id: "%s") { name state states { state timestamp } } }' % flow_run_id
    return bench.client.graphql(query).data.flow_run_by_pk.to_dict()


def _wait_finished(bench: Bench, flow_run_id: str, agent: subprocess.Popen, what: str) -> Dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        info = _run_info(bench, flow_run_id)
        if info["state"] in FINISHED:
            return info
        if agent.poll() is not None:
            raise RuntimeError(f"the agent exited with {agent.returncode}; log: {bench.home / 'agent.log'}")
        time.sleep(0.25)
    tail = (bench.home / "agent.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{what} {flow_run_id} not finished after {TIMEOUT:.0f} s (state {info['state']}); agent log tail:\n{tail}")


def _children(bench: Bench, parent_name: str) -> List[Dict[str, Any]]:
    where = f'{{name: {{_like: "{parent_name}-bench-child%"}}}}'
    query = "query { flow_run(where: %s) { id name state states { state timestamp } } }" % where
    return [row.to_dict() for row in bench.client.graphql(query).data.flow_run]


def _one_parent(bench: Bench, side: str, agent: subprocess.Popen) -> Dict[str, Any]:
    flow_id = bench.register(f"parent_{side}.py")
    bench.server.stats.reset()
    t0 = time.monotonic()
    parent = bench.client.create_flow_run(flow_id=flow_id, parameters={"project": bench.project, "n": N})
    info = _wait_finished(bench, parent, agent, f"the {side} parent")
    wall = time.monotonic() - t0
    requests = bench.requests()
    stamps = sorted((pendulum.parse(s["timestamp"]), s["state"]) for s in info["states"])
    running = next(t for t, state in stamps if state == "Running")
    ended = [t for t, state in stamps if state == info["state"]][-1]
    children = _children(bench, info["name"])
    states = sorted(c["state"] for c in children)
    child_stamps = [sorted(pendulum.parse(s["timestamp"]) for s in c["states"]) for c in children]
    last_created = max(stamps_[0] for stamps_ in child_stamps)
    last_ended = max(stamps_[-1] for stamps_ in child_stamps)
    creating = (last_created - running).total_seconds()
    tail = (ended - last_ended).total_seconds()
    say(f"e2e {side}: parent {info['state']} in {(ended - running).total_seconds():.1f} s Running->end "
        f"({wall:.1f} s from create to seen finished); {len(children)} children: "
        f"{ {s: states.count(s) for s in set(states)} }; parent Running -> last child created {creating:.1f} s, "
        f"last child finished -> parent finished {tail:.1f} s; {requests} API requests served meanwhile")
    if info["state"] != "Success" or len(children) != N or set(states) != {"Success"}:
        raise RuntimeError(f"the {side} parent did not fan out to {N} successful children: {info['state']}, {states}")
    return {"seconds": (ended - running).total_seconds(), "wall": wall, "requests": requests,
            "creating": creating, "tail": tail}


def run(bench: Bench) -> List[Row]:
    child = bench.register("child.py")
    for side in ("ours", "peer"):
        bench.register(f"parent_{side}.py")
    agent = _start_agent(bench)
    try:
        t0 = time.monotonic()
        warm = bench.client.create_flow_run(flow_id=child, parameters={"x": -1})
        _wait_finished(bench, warm, agent, "the warm-up child")
        say(f"warm-up child run went through the agent in {time.monotonic() - t0:.1f} s")
        results: Dict[str, List[Dict[str, Any]]] = {"ours": [], "peer": []}
        for round_no in range(ROUNDS):
            for side in (["ours", "peer"] if round_no % 2 == 0 else ["peer", "ours"]):
                results[side].append(_one_parent(bench, side, agent))
    finally:
        _stop(agent)

    def mid(side: str, key: str) -> float:  # the median over rounds (robust to one noisy round)
        return median([r[key] for r in results[side]])

    return [
        Row(f"e2e: {N}-child fan-out, parent Running -> end (median of {ROUNDS})", mid("ours", "seconds"),
            mid("peer", "seconds"), "s", digits=1),
        Row("e2e:   of which parent Running -> last child created", mid("ours", "creating"), mid("peer", "creating"),
            "s", digits=1),
        Row("e2e:   of which last child finished -> parent end", mid("ours", "tail"), mid("peer", "tail"), "s",
            digits=1),
        Row(f"e2e: {N}-child fan-out, create parent run -> seen finished", mid("ours", "wall"), mid("peer", "wall"),
            "s", digits=1),
        Row("e2e: API requests served meanwhile (agent+parent+children)", mid("ours", "requests"),
            mid("peer", "requests"), digits=0),
    ]
