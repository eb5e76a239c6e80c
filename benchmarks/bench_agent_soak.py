"""500 runs through `tasks-flowrun agent` with no flags, with faults: does anything pile up?

Usage: python benchmarks/bench_agent_soak.py [--runs N] [--kills K] [--keep]

One embedded backend and `tasks-flowrun agent` (defaults; `--stop-runs-on-exit` so nothing
outlives the benchmark). N runs (default 500) of the 3-task child flow are created at once;
while the agent works through them, K of its flow processes (default 20) are SIGKILLed at
random moments (the agent reports each, the backend reschedules the run, it runs again)
and, half-way, its zygote is SIGKILLed (the agent starts another; the dead zygote's flow
processes, adopted by the agent, are watched by pid). Sampled every 0.25 s: the agent's
process tree (count, RSS, PSS). At the end: every run's final state, the reschedules, and
the zombies (processes in state Z whose parent is the agent or its zygote) and the flow
processes left.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent import PeakMemory, _descendants, _zombies  # noqa: E402
from common import Bench, say  # noqa: E402


def _flow_processes(agent_pid: int) -> List[int]:
    """The agent's flow processes: session leaders among its descendants."""
    found = []
    for pid in _descendants(agent_pid):
        try:
            if pid != agent_pid and os.getsid(pid) == pid:
                found.append(pid)
        except OSError:
            pass
    return found


def _zygotes(agent_pid: int) -> List[int]:
    found = []
    for pid in _descendants(agent_pid):
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == agent_pid and os.getsid(pid) != pid:
                found.append(pid)
        except (OSError, IndexError, ValueError):
            pass
    return found


def _failed(bench: Bench, flow_id: str) -> List[str]:
    """Why each run that did not succeed ended as it did (its state message)."""
    query = ('query { flow_run(where: {flow_id: {_eq: "%s"}, state: {_neq: "Success"}}) '
             '{ id state state_message times_resurrected } }' % flow_id)
    return [f"{r.id} {r.state} (rescheduled {r.times_resurrected}x): {r.state_message}"
            for r in bench.client.graphql(query).data.flow_run]


def _states(bench: Bench, flow_id: str) -> Dict[str, int]:
    query = 'query { flow_run(where: {flow_id: {_eq: "%s"}}) { state times_resurrected } }' % flow_id
    rows = bench.client.graphql(query).data.flow_run
    counts: Dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    counts["rescheduled"] = sum(row.times_resurrected for row in rows)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    bench = Bench().start()
    log = open(bench.home / "agent.log", "ab")
    agent = subprocess.Popen([sys.executable, "-m", "tasks_flowrun.cli", "agent", "--name", "bench-soak",
                              "--stop-runs-on-exit"], env=bench.subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
    most_processes = [0]
    stop = threading.Event()

    def count_processes() -> None:
        while not stop.wait(0.25):
            most_processes[0] = max(most_processes[0], len(_flow_processes(agent.pid)))

    try:
        flow_id = bench.register("child.py")
        t0 = time.monotonic()
        for i in range(args.runs):
            bench.client.create_flow_run(flow_id=flow_id, parameters={"x": i})
        say(f"created {args.runs} runs in {time.monotonic() - t0:.1f} s")
        threading.Thread(target=count_processes, daemon=True).start()
        kills, zygote_killed, rng = 0, False, random.Random(7)
        with PeakMemory(agent.pid) as memory:
            while True:
                states = _states(bench, flow_id)
                done = states.get("Success", 0) + states.get("Failed", 0)
                if done >= args.runs:
                    break
                if not zygote_killed and done >= args.runs // 2:
                    for zygote in _zygotes(agent.pid):
                        os.kill(zygote, signal.SIGKILL)
                    zygote_killed = True
                    say(f"killed the zygote after {done} runs")
                if kills < args.kills and rng.random() < 0.3:
                    victims = _flow_processes(agent.pid)
                    if victims:
                        os.kill(rng.choice(victims), signal.SIGKILL)
                        kills += 1
                if time.monotonic() - t0 > 1800:
                    raise RuntimeError(f"not finished after 30 minutes: {states}")
                time.sleep(0.25)
        took = time.monotonic() - t0
        time.sleep(6.0)  # the agent sweeps the orphans it adopted every 5 s
        zygotes = _zygotes(agent.pid)
        zombies = _zombies([agent.pid, *zygotes])
        left = _flow_processes(agent.pid)
        states = _states(bench, flow_id)
        failed = _failed(bench, flow_id)
    finally:
        stop.set()
        agent.terminate()
        agent.wait(timeout=30)
        bench.stop(keep=args.keep)
    say(f"{args.runs} runs in {took:.1f} s ({args.runs / took:.1f} runs/s); final states {states}; "
        f"{kills} flow processes killed, zygote killed: {zygote_killed}")
    say(f"most flow processes at once {most_processes[0]}; peak RSS agent+processes {memory.peak[0] / 2**20:.0f} MiB, "
        f"PSS {memory.peak[1] / 2**20:.0f} MiB")
    for line in failed:
        say(f"not Success: {line}")
    say(f"afterwards: {zombies} zombie processes of the agent and its zygote {zygotes}; {len(left)} flow processes left")
    return 0 if zombies == 0 and states.get("Success", 0) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
