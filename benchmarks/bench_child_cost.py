"""The cost of one child through `tasks-flowrun agent`: where the time of a 3-task child run
goes, from its creation to its process's exit, and how many API requests it sends.

Usage: python benchmarks/bench_child_cost.py [--runs N] [--keep] [--preload MODULE]

One embedded backend (`tasks-flowrun server`, a fresh SQLite file) and `tasks-flowrun agent`
with no flags but `--preload flow_process_trace` (`flow_process_trace.py`: timers in every
forked flow process, written to a file per process at its exit; they cost microseconds).
After a warm-up run, N children (default 20) of the 3-task child flow (`flows/child.py`,
with its Parameter that is 4 task runs) run one at a time, each created while the agent is
idle (1 s after the previous run ended). Per run, on one clock (the machine's): the
backend's state timestamps (created = Scheduled, Submitted, Running, Success) and the flow
process's own events (fork, its setup, each request, each task, the runner's end, its
atexit handlers done). Then, on the idle backend, the round trip of each kind of request a
child sends (30 each, from this process): what the backend costs per request.

Printed: the median (and p90) of each phase, wall clock and the flow process's CPU time
(which a loaded machine inflates less), the CPU time per child of each process (flow
process, agent, zygote, backend), the requests per child and per task by kind,
and the two targets: fork -> Running <= 50 ms, Running -> Success <= 150 ms (a 3-task child
on an idle machine). Figures only: nothing fails on a missed target.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

import pendulum

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Bench, percentile  # noqa: E402

FINISHED = {"Success", "Failed", "Cancelled", "TimedOut"}


def _start_agent(bench: Bench, trace_dir: Path, preload: List[str]) -> subprocess.Popen:
    env = bench.subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env["TRACE_DIR"] = str(trace_dir)
    log = open(bench.home / "agent.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "tasks_flowrun.cli", "agent", "--name", "bench-cost",
                             "--preload", "flow_process_trace", *[a for m in preload for a in ("--preload", m)]],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def _stamps(bench: Bench, run_id: str) -> Dict[str, float]:
    query = 'query { flow_run_by_pk(id: "%s") { state states { state timestamp } } }' % run_id
    run = bench.client.graphql(query).data.flow_run_by_pk
    found = {"state": run.state}
    for state in run.states:
        found.setdefault(state.state, pendulum.parse(state.timestamp).timestamp())
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _zygote_of(agent_pid: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == agent_pid and os.getsid(int(entry.name)) != int(entry.name):
                    return int(entry.name)
            except (OSError, IndexError, ValueError):
                pass
    raise RuntimeError("no zygote")


def _speed_check() -> float:
    """Milliseconds of CPU a fixed pure-Python loop takes now (how fast this machine runs
    Python at the moment: a loaded or throttled machine shows here)."""
    start = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i
    return (time.process_time() - start) * 1000


def _run_one(bench: Bench, flow_id: str, x: int) -> Dict[str, Any]:
    """Create a run and wait until it is finished: held `/watch` requests (the backend
    answers when the run changes), so that waiting adds next to no requests."""
    from tasks_flowrun.client import ChangeStream

    run_id = bench.client.create_flow_run(flow_id=flow_id, parameters={"x": x})
    time.sleep(0.25)  # no request of this benchmark's meanwhile: the backend serves the agent alone
    stream = ChangeStream(bench.client)
    pushed = stream.start([run_id])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stamps = _stamps(bench, run_id)
        if stamps["state"] in FINISHED:
            return {"id": run_id, **stamps}
        if not pushed or stream.wait(hold=10) is None:
            time.sleep(0.05)  # a backend without /watch
    raise RuntimeError(f"run {run_id} did not finish")


def _trace(trace_dir: Path, run_id: str) -> Optional[Dict[str, Any]]:
    for path in trace_dir.glob("*.json"):
        data = json.loads(path.read_text())
        if data["flow_run_id"] == run_id:
            return data
    return None


def _phases(run: Dict[str, Any], trace: Dict[str, Any]) -> Dict[str, Any]:
    """Each phase as (wall ms, process CPU ms); the flow process's CPU starts at 0 at the fork."""
    events = sorted(trace["events"], key=lambda e: e[1])

    def first(name: str) -> list:
        return [e for e in events if e[0] == name][0]

    def wall_end(e: list) -> float:
        return e[2]

    fork = first("fork")
    execute = first("run flow")
    loaded = first("load flow from storage")
    environment = first("child _apply_environment")
    tasks = [e for e in events if e[0] == "task runner"]
    requests_ = [e for e in events if e[0].startswith("request ")]
    main_requests = [e for e in requests_ if e[3] == "MainThread"]
    states = [e for e in main_requests if e[0] == "request set_flow_run_states"]
    running, success = states[0], states[-1]
    in_tasks = [r for r in main_requests if any(t[1] <= r[1] <= t[2] for t in tasks)]
    atexit_done = first("atexit done")
    ms = 1000.0

    def span(wall_a: float, wall_b: float, cpu_a: float, cpu_b: float) -> tuple:
        return (wall_b - wall_a) * ms, (cpu_b - cpu_a) * ms

    task_wall = sum(t[2] - t[1] for t in tasks)
    task_cpu = sum(t[4] - t[5] for t in tasks)
    request_wall = sum(r[2] - r[1] for r in in_tasks)
    request_cpu = sum(r[4] - r[5] for r in in_tasks)
    return {
        "created -> Submitted (agent pick-up)": ((run["Submitted"] - run["Scheduled"]) * ms, None),
        "Submitted -> fork (agent: deploy, zygote: fork)": ((fork[1] - run["Submitted"]) * ms, None),
        "fork -> Running": ((run["Running"] - fork[1]) * ms, running[4] * ms),
        "  fork -> environment applied (setsid, stdio, env)": span(fork[1], wall_end(environment), 0, environment[4]),
        "  environment -> Prefect config ready (run ids set, or reloaded)": span(
            wall_end(environment), execute[1], environment[4], execute[5]),
        "  config -> flow loaded from storage": span(execute[1], wall_end(loaded), execute[5], loaded[4]),
        "  flow loaded -> Running (runner start, 2 requests)": (
            (run["Running"] - wall_end(loaded)) * ms, (running[4] - loaded[4]) * ms),
        "Running -> Success": ((run["Success"] - run["Running"]) * ms, (success[4] - running[4]) * ms),
        "  Running -> first task (heartbeat: 2 requests)": span(wall_end(running), tasks[0][1], running[4], tasks[0][5]),
        "  tasks (4 task runs incl. the Parameter)": (task_wall * ms, task_cpu * ms),
        "    of which requests (3 per task run)": (request_wall * ms, request_cpu * ms),
        "    of which the task runner's own work": ((task_wall - request_wall) * ms, (task_cpu - request_cpu) * ms),
        "  last task -> Success (cancellation-check join: 1 request; state)": span(
            tasks[-1][2], wall_end(success), tasks[-1][4], success[4]),
        "Success -> runner returned (slot freed)": span(wall_end(success), wall_end(execute), success[4], execute[4]),
        "runner returned -> atexit done (log flush: 1 request)": span(
            wall_end(execute), atexit_done[1], execute[4], atexit_done[4]),
        "fork -> atexit done (whole flow process)": span(fork[1], atexit_done[1], 0, atexit_done[4]),
        "requests sent (all threads)": (float(len(requests_)), None),
        "request time, main thread (sum)": (sum(r[2] - r[1] for r in main_requests) * ms,
                                            sum(r[4] - r[5] for r in main_requests) * ms),
        "garbage collections": (float(sum(1 for e in events if e[0].startswith("gc "))), None),
        "garbage collection time": (sum(e[2] - e[1] for e in events if e[0].startswith("gc ")) * ms, None),
    }


def _request_kinds(traces: List[Dict[str, Any]]) -> Counter:
    kinds: Counter = Counter()
    for trace in traces:
        kinds.update(e[0][len("request "):] for e in trace["events"] if e[0].startswith("request "))
    return kinds


def _round_trips(bench: Bench, flow_id: str) -> Dict[str, float]:
    """Median round trip of each kind of request a child sends, on the idle backend."""
    import requests
    from prefect.engine.state import Pending, Running, Success

    client = bench.client
    run_id = client.create_flow_run(flow_id=flow_id, parameters={"x": 0}, labels=["bench-no-agent"])
    info = client.get_flow_run_info(run_id)
    task_id = client.graphql('query { task(where: {flow_id: {_eq: "%s"}}, limit: 1) { id } }'
                             % info.flow_id).data.task[0].id
    calls = {
        "GET /health (HTTP floor)": lambda: requests.get(bench.url + "/health", timeout=10),
        "flow_run_by_pk (get_flow_run_info)": lambda: client.get_flow_run_info(run_id),
        "update_flow_run_heartbeat": lambda: client.update_flow_run_heartbeat(run_id),
        "get_or_create_task_run_info": lambda: client.get_task_run_info(run_id, task_id),
        "set_task_run_states": None,
        "write_run_logs": lambda: client.write_run_logs([{"flow_run_id": run_id, "name": "b", "message": "m",
                                                          "level": "INFO", "timestamp": pendulum.now().isoformat()}]),
    }
    client.set_flow_run_state(run_id, Running())
    task_run = client.get_task_run_info(run_id, task_id)
    turn = [0]

    def set_state() -> None:  # Pending, Running, Success, Pending...: what a task run sends (a
        # finished task run only runs again from Pending: a late Running is refused)
        turn[0] += 1
        client.set_task_run_state(task_run.id, (Pending(), Running(), Success())[turn[0] % 3])

    calls["set_task_run_states"] = set_state
    result = {}
    for name, call in calls.items():
        times = []
        for _ in range(30):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        result[name] = statistics.median(times)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (database, logs, traces)")
    parser.add_argument("--preload", action="append", default=[], metavar="MODULE",
                        help="one more module for the agent's zygote (e.g. a profiler of your own, importable "
                             "from PYTHONPATH); repeatable")
    args = parser.parse_args()
    bench = Bench().start()
    trace_dir = bench.home / "traces"
    trace_dir.mkdir()
    agent = _start_agent(bench, trace_dir, args.preload)
    try:
        flow_id = bench.register("child.py")
        _run_one(bench, flow_id, -1)  # warm-up
        processes = {"agent": agent.pid, "zygote": _zygote_of(agent.pid), "backend": bench.server.process.pid}
        speed = _speed_check()
        cpu_before = {name: _cpu_seconds(pid) for name, pid in processes.items()}
        bench.server.stats.reset()
        runs = []
        for i in range(args.runs):
            time.sleep(1.0)  # the agent is idle when the run is created
            runs.append(_run_one(bench, flow_id, i))
        cpu = {name: (_cpu_seconds(pid) - cpu_before[name]) / args.runs * 1000 for name, pid in processes.items()}
        served = bench.server.stats.snapshot()
        time.sleep(1.0)  # the last processes write their traces at exit
        traces = {r["id"]: _trace(trace_dir, r["id"]) for r in runs}
        done = [(r, traces[r["id"]]) for r in runs if traces[r["id"]] is not None]
        phases = [_phases(r, t) for r, t in done]
        trips = _round_trips(bench, flow_id)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        bench.stop(keep=args.keep)
    print(f"\nOne 3-task child through `tasks-flowrun agent` (defaults), {len(phases)} runs one at a time; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; speed check {speed:.0f} ms "
          f"(a fixed Python loop; lower is faster)\n")
    print(f"{'phase':72s} {'wall median':>12s} {'wall p90':>9s} {'CPU median':>11s}")
    for key in phases[0]:
        values = [p[key][0] for p in phases]
        cpus = [p[key][1] for p in phases if p[key][1] is not None]
        unit = "" if key.startswith(("requests", "garbage collections")) else " ms"
        cpu_text = f"{statistics.median(cpus):8.1f} ms" if cpus else ""
        print(f"{key:72s} {statistics.median(values):9.1f}{unit:3s} {percentile(values, 90):7.1f}{unit:3s}{cpu_text:>11s}")
    flow_cpu = statistics.median(p["fork -> atexit done (whole flow process)"][1] for p in phases)
    print("\nCPU time per child (user + system), by process:")
    for name, value in [("flow process", flow_cpu), *cpu.items()]:
        print(f"  {value:6.1f} ms  {name}")
    print(f"  {flow_cpu + sum(cpu.values()):6.1f} ms  in all (includes the agent's and the backend's work "
          "while idle, and this benchmark's polls)")
    kinds = _request_kinds([t for _, t in done])
    print("\nRequests per child, by kind (all threads):")
    for kind, count in kinds.most_common():
        print(f"  {count / len(done):5.1f}  {kind}")
    print(f"  {sum(kinds.values()) / len(done):5.1f}  in all (4 task runs: "
          f"{kinds.get('get_or_create_task_run_info', 0) / len(done) / 4:.0f} look-up + "
          f"{kinds.get('set_task_run_states', 0) / len(done) / 4:.0f} state changes per task run)")
    print("\nGraphQL requests the backend served per child, by root field (flow process, agent, this "
          "benchmark's reads; /watch requests not included):")
    for field, count in sorted(served["fields"].items(), key=lambda kv: -kv[1]):
        print(f"  {count / args.runs:5.1f}  {field}")
    print(f"  {served['requests'] / args.runs:5.1f}  requests in all")
    print("\nRound trip per request on the idle backend (median of 30, from one client):")
    for name, value in trips.items():
        print(f"  {value:6.1f} ms  {name}")
    fork_running = statistics.median(p["fork -> Running"][0] for p in phases)
    running_success = statistics.median(p["Running -> Success"][0] for p in phases)
    pickup = statistics.median(p["created -> Submitted (agent pick-up)"][0] for p in phases)
    print(f"\ntargets: fork -> Running {fork_running:.0f} ms (<= 50: {'yes' if fork_running <= 50 else 'NO'}); "
          f"Running -> Success {running_success:.0f} ms (<= 150: {'yes' if running_success <= 150 else 'NO'}); "
          f"idle pick-up created -> Submitted {pickup:.0f} ms (<= 50: {'yes' if pickup <= 50 else 'NO'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
