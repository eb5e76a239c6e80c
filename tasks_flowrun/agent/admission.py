"""Which due runs the agent may start now, and which first.

The rule (also in `tasks-flowrun agent --help` and the README):

- `--limit` counts the runs that *work*: a run whose flow process waits on other flow runs
  (inside the tasks' `blocked_on_children()`: `wait_for_flow_run`, `create_flow_run(wait=
  True)`, `get_task_run_result`) is blocked and does not count, so children can always start
  under a waiting parent, at any depth. A blocked run that works again counts again at once
  (the limit may be passed until runs finish; new runs wait for the count to drop).
- Blocked runs are bounded on their own by `--max-blocked` (default from the machine's
  memory, see `default_max_blocked`): the blocked runs beyond that bound, the latest to
  block, count against `--limit` like working ones. Only more than `--max-blocked` runs
  waiting at once on one agent, with every working slot held by yet more waiting runs, could
  stall it.
- When more runs are due than may start, children of this agent's blocked runs go first,
  the deepest first, then the earliest due: a tree of runs is worked through depth first,
  which keeps the number of runs waiting at once near `--limit` x the depth of the tree
  instead of its width.
"""
import os
from typing import Dict, Iterable, List, Optional, Tuple

from .runs import RunningRun

# What one blocked flow process holds of the machine's memory, for the default bound: its
# own pages (a forked process shares the zygote's imported code and data) were 16 MiB
# (median) to 43 MiB (largest) over the flow processes of a 21-run tree of parents
# waiting on children; 64 MiB leaves room for heavier flows.
BLOCKED_PROCESS_BYTES = 64 * 2**20
MEMORY_SHARE = 4  # blocked processes may take at most a quarter of the machine's memory
MAX_BLOCKED_CAP = 1024


# A flow process of short tasks waits on the backend's answers for about half of its time
# (alone on the machine: 128 ms of CPU in 220 ms from fork to exit, a 3-task child), so
# runs working at once per CPU this many keep the CPUs busy. Measured, a 20-child fan-out
# on 2 CPUs (alternating rounds, same machine): 3.97 s with 2 at once, 3.55 s with 3,
# 3.64 s with 4 against 3.98 s with 3, 2.81 s with 6 against 3.04 s with 4.
RUNS_PER_CPU = 2


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, e.g. a container's cpuset), else the
    machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count() or 1


def default_limit() -> int:
    """Twice the usable CPU count (RUNS_PER_CPU), at least 2."""
    return max(2, RUNS_PER_CPU * usable_cpus())


def default_max_blocked(limit: int) -> int:
    """A quarter of the machine's memory (or of its container's limit) in blocked flow
    processes of 64 MiB each, at least 4 x `limit`, at most 1024."""
    total = _memory_total()
    by_memory = total // MEMORY_SHARE // BLOCKED_PROCESS_BYTES if total else 0
    return int(max(4 * limit, min(MAX_BLOCKED_CAP, by_memory)))


def _memory_total() -> int:
    """The machine's memory, or the container's limit when it has a lower one (cgroup v2,
    then v1); 0 when unknown."""
    total = 0
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as handle:
                limit = handle.read().strip()
        except OSError:
            continue
        if limit.isdigit() and (not total or int(limit) < total):
            total = int(limit)
    return total


class SlotRule:
    """
    The counting rule above.

    Args:
        - limit (int): runs working at once
        - max_blocked (int): blocked runs not counted against `limit`
    """

    def __init__(self, limit: int, max_blocked: int) -> None:
        self.limit = limit
        self.max_blocked = max_blocked

    def counts(self, runs: Iterable[RunningRun]) -> Tuple[int, int]:
        """(runs counted against the limit, blocked runs not counted) among `runs`."""
        live = [r for r in runs if not r.finished]
        blocked = sorted(r.blocked_since for r in live if r.blocked_since is not None)
        working = len(live) - len(blocked)
        beyond = max(0, len(blocked) - self.max_blocked)
        return working + beyond, len(blocked) - beyond

    def free(self, runs: Iterable[RunningRun], starting: int) -> int:
        """How many more runs may start now; `starting` runs are being deployed (no process
        in `runs` yet)."""
        counted, _ = self.counts(runs)
        return self.limit - counted - starting


def depth_first(candidates: List[str], parents: Dict[str, Tuple[Optional[str], str]],
                runs: Iterable[RunningRun]) -> List[str]:
    """`candidates` ordered as the rule says: children of this agent's runs first, deepest
    first, then by scheduled start time. `parents` maps a run (candidates and this agent's
    runs) to (its parent's id, its scheduled start time), as far as the backend told."""
    mine = {r.flow_run_id for r in runs}

    def depth(run_id: str) -> int:
        found, seen = 0, {run_id}
        parent = parents.get(run_id, (None, ""))[0]
        while parent in mine and parent not in seen:  # up through this agent's runs
            found += 1
            seen.add(parent)
            parent = parents.get(parent, (None, ""))[0]
        return found

    return sorted(candidates, key=lambda run_id: (-depth(run_id), parents.get(run_id, (None, ""))[1]))
