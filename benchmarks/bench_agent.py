"""`tasks-flowrun agent` against the stock LocalAgent: end-to-end fan-out, per-child start-up,
peak memory.

Usage: python benchmarks/bench_agent.py [--keep]   (prints the figures and a table)

Three sides, one after the other, each with an agent of its own on one embedded backend:

- warm: `flows/parent_ours.py` (our tasks) through `tasks-flowrun agent` with no flags:
  its defaults (at most twice the CPU count of runs working at once; the parent waiting on its
  children does not count);
- peer: `flows/parent_peer.py` (Prefect's `prefect.tasks.prefect` tasks) through the stock
  `prefect agent local start`;
- stock+ours: `flows/parent_ours.py` through the stock `prefect agent local start`.

Each agent runs a warm-up child first. The warm agent runs SOLO children one at a time
(start-up with the machine to itself) and a 200-child parent (the stock agent is not run
with 200: it would start 200 interpreters at once on this shared machine), the peer's agent
SOLO children too. Then the 20-child parent runs ROUNDS times on each side, the sides in
alternating order (warm, stock+ours, peer; then peer, stock+ours, warm), each round with a
fresh agent, so that a change of the machine's load during the run weighs on every side
alike; the table shows the mean over rounds. Figures: parent Running -> final state (backend timestamps);
per-child start-up = a child's Submitted -> Running (median, p95); peak memory = the
largest sum, sampled every 0.25 s, of the RSS (and of the PSS, which counts pages shared by
forked processes once) of the agent and all its descendant processes (zygote, flow
processes); zombies = processes in state Z whose parent is the agent or its zygote, counted
after the 200-child parent.
"""
import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pendulum

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Bench, Row, median, percentile, print_table, say  # noqa: E402

TIMEOUT = 600.0
SOLO = 5  # children started one at a time, for the start-up of a child with the machine to itself
ROUNDS = 2  # 20-child fan-outs per side, the sides in alternating order
FINISHED = {"Success", "Failed", "Cancelled", "TimedOut", "Skipped", "Cached", "TriggerFailed"}


def _descendants(root: int) -> List[int]:
    children: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _memory(pid: int) -> Tuple[int, int]:
    """(RSS, PSS) in bytes of one process."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


class PeakMemory:
    """Samples the agent's process tree in a thread; `peak` = (max RSS sum, max PSS sum)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            totals = [_memory(p) for p in _descendants(self.root)]
            self.peak = (max(self.peak[0], sum(t[0] for t in totals)), max(self.peak[1], sum(t[1] for t in totals)))


def _start(bench: Bench, kind: str) -> subprocess.Popen:
    if kind == "warm":  # the defaults, as users start it (--stop-runs-on-exit: nothing outlives the run)
        command = [sys.executable, "-m", "tasks_flowrun.cli", "agent", "--name", "bench-warm", "--stop-runs-on-exit"]
    else:
        command = [sys.executable, "-m", "prefect", "agent", "local", "start", "--name", "bench-stock"]
    log = open(bench.home / f"agent-{kind}.log", "ab")
    return subprocess.Popen(command, env=bench.subprocess_env(), stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _states(bench: Bench, where: str) -> List[Dict[str, Any]]:
    query = "query { flow_run(where: %s) { id name state states { state timestamp } } }" % where
    return [row.to_dict() for row in bench.client.graphql(query).data.flow_run]


def _wait(bench: Bench, flow_run_id: str) -> Dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        [run] = _states(bench, f'{{id: {{_eq: "{flow_run_id}"}}}}')
        if run["state"] in FINISHED:
            return run
        time.sleep(0.25)
    raise RuntimeError(f"{flow_run_id} not finished after {TIMEOUT:.0f} s")


def _stamp(run: Dict[str, Any], state: str) -> pendulum.DateTime:
    return [pendulum.parse(s["timestamp"]) for s in run["states"] if s["state"] == state][0]


def _parent(bench: Bench, script: str, n: int, agent: subprocess.Popen) -> Dict[str, Any]:
    parent_id = bench.client.create_flow_run(flow_id=bench.register(script), parameters={"project": bench.project, "n": n})
    with PeakMemory(agent.pid) as memory:
        run = _wait(bench, parent_id)
    children = _states(bench, f'{{name: {{_like: "{run["name"]}-bench-child%"}}}}')
    ok = run["state"] == "Success" and len(children) == n and all(c["state"] == "Success" for c in children)
    if not ok:
        raise RuntimeError(f"{script} with {n} children: parent {run['state']}, {len(children)} children")
    startups = [(_stamp(c, "Running") - _stamp(c, "Submitted")).total_seconds() for c in children]
    result = {"seconds": (_stamp(run, run["state"]) - _stamp(run, "Running")).total_seconds(),
              "startup_median": median(startups), "startup_p95": percentile(startups, 95),
              "rss": memory.peak[0] / 2**20, "pss": memory.peak[1] / 2**20}
    say(f"{script} x{n}: parent Running -> Success {result['seconds']:.1f} s; child start-up median "
        f"{result['startup_median'] * 1000:.0f} ms, p95 {result['startup_p95'] * 1000:.0f} ms; peak agent+children "
        f"RSS {result['rss']:.0f} MiB, PSS {result['pss']:.0f} MiB")
    return result


def _solo_startups(bench: Bench) -> List[float]:
    """Submitted -> Running of SOLO children run one at a time (nothing else starting)."""
    startups = []
    for i in range(SOLO):
        run = _wait(bench, bench.client.create_flow_run(flow_id=bench.register("child.py"), parameters={"x": i}))
        startups.append((_stamp(run, "Running") - _stamp(run, "Submitted")).total_seconds())
    return startups


def _zombies(parents: List[int]) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            count += fields[0] == "Z" and int(fields[1]) in parents
    return count


def _zygotes(agent_pid: int) -> List[int]:
    """The agent's zygote(s): its children that do not lead a session (flow processes do)."""
    found = []
    for pid in _descendants(agent_pid):
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == agent_pid and os.getsid(pid) != pid:
                found.append(pid)
        except (OSError, IndexError, ValueError):
            pass
    return found


def _side(bench: Bench, kind: str, script: str, sizes: List[int], solo: bool) -> Dict[Any, Any]:
    agent = _start(bench, kind)
    try:
        _wait(bench, bench.client.create_flow_run(flow_id=bench.register("child.py"), parameters={"x": -1}))
        results: Dict[Any, Any] = {}
        if solo:
            results["solo"] = _solo_startups(bench)
            say(f"{kind} agent: one child at a time, start-up median {median(results['solo']) * 1000:.0f} ms")
        results.update({n: _parent(bench, script, n, agent) for n in sizes})
        time.sleep(2.0)  # the last processes exit
        results["zombies"] = _zombies([agent.pid, *_zygotes(agent.pid)])
        say(f"{kind} agent: {results['zombies']} zombie processes of the agent and its zygote afterwards")
        return results
    finally:
        _stop(agent)


def _mean(results: List[Dict[str, Any]], key: str) -> float:
    return sum(r[20][key] for r in results) / len(results)


def run(bench: Bench) -> List[Row]:
    warm = _side(bench, "warm", "parent_ours.py", [200], solo=True)
    peer_solo = _side(bench, "stock", "parent_peer.py", [], solo=True)["solo"]
    sides = [("warm", "warm", "parent_ours.py"), ("stock_ours", "stock", "parent_ours.py"),
             ("peer", "stock", "parent_peer.py")]
    fan: Dict[str, List[Dict[Any, Any]]] = {name: [] for name, _, _ in sides}
    for round_no in range(ROUNDS):
        for name, kind, script in (sides if round_no % 2 == 0 else sides[::-1]):
            fan[name].append(_side(bench, kind, script, [20], solo=False))
    ours, peer, stock_ours = (_mean(fan[n], "seconds") for n in ("warm", "peer", "stock_ours"))
    say(f"20 children, mean of {ROUNDS} rounds: warm {ours:.1f} s, stock LocalAgent + our tasks {stock_ours:.1f} s, "
        f"stock LocalAgent + Prefect's tasks {peer:.1f} s")
    return [
        Row(f"agent e2e: 20 children, parent Running -> end (warm, no flags, vs peer), mean of {ROUNDS}", ours, peer,
            "s", "<= 0.25x the stock agent", lambda o, p: p is not None and o <= 0.25 * p, digits=1),
        Row(f"agent e2e: 20 children, warm (no flags) vs stock LocalAgent + our tasks, mean of {ROUNDS}", ours,
            stock_ours, "s", "<= 0.25x the stock agent", lambda o, p: p is not None and o <= 0.25 * p, digits=1),
        Row("agent e2e: 20 children, stock LocalAgent + our tasks (as ours)", stock_ours, peer, "s", digits=1),
        Row("agent e2e: 200 children, parent Running -> end (warm only)", warm[200]["seconds"], None, "s", digits=1),
        Row(f"agent: child start-up Submitted -> Running, one at a time, median of {SOLO}",
            median(warm["solo"]) * 1000, median(peer_solo) * 1000, "ms", "<= 100 ms", lambda o, p: o <= 100,
            digits=0),
        Row("agent: child start-up Submitted -> Running, 20-child fan-out, median",
            _mean(fan["warm"], "startup_median") * 1000, _mean(fan["peer"], "startup_median") * 1000, "ms",
            "<= 100 ms", lambda o, p: o <= 100, digits=0),
        Row("agent: child start-up Submitted -> Running, 20-child fan-out, p95",
            _mean(fan["warm"], "startup_p95") * 1000, _mean(fan["peer"], "startup_p95") * 1000, "ms", digits=0),
        Row("agent: child start-up median (200, warm only)", warm[200]["startup_median"] * 1000, None, "ms", digits=0),
        Row("agent: child start-up p95 (200, warm only)", warm[200]["startup_p95"] * 1000, None, "ms", digits=0),
        Row("agent: peak RSS agent+children, 20 children", max(r[20]["rss"] for r in fan["warm"]),
            max(r[20]["rss"] for r in fan["peer"]), "MiB", digits=0),
        Row("agent: peak PSS agent+children, 20 children", max(r[20]["pss"] for r in fan["warm"]),
            max(r[20]["pss"] for r in fan["peer"]), "MiB", digits=0),
        Row("agent: peak RSS agent+children, 200 children (warm only)", warm[200]["rss"], None, "MiB",
            "< 2 GB, 200 complete", lambda o, p: o < 2048, digits=0),
        Row("agent: peak PSS agent+children, 200 children (warm only)", warm[200]["pss"], None, "MiB", digits=0),
        Row("agent: zombie processes of the agent and its zygote afterwards", warm["zombies"],
            max(r["zombies"] for r in fan["peer"]), "", "0", lambda o, p: o == 0, digits=0),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (database, agent logs)")
    args = parser.parse_args()
    bench = Bench().start()
    try:
        rows = run(bench)
    finally:
        bench.stop(keep=args.keep)
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
