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
# unique pages (a forked process shares the zygote's imported code) measured at about
# 30 MiB for a parent waiting on its children (benchmarks/bench_agent_cost.py), rounded up.
BLOCKED_PROCESS_BYTES = 64 * 2**20
MEMORY_SHARE = 4  # blocked processes may take at most a quarter of the machine's memory
MAX_BLOCKED_CAP = 1024


def default_limit() -> int:
    """The CPU count, at least 2."""
    return max(2, os.cpu_count() or 1)


def default_max_blocked(limit: int) -> int:
    """A quarter of the machine's memory in blocked flow processes of 64 MiB each, at least
    4 x `limit`, at most 1024."""
    total = _memory_total()
    by_memory = total // MEMORY_SHARE // BLOCKED_PROCESS_BYTES if total else 0
    return int(max(4 * limit, min(MAX_BLOCKED_CAP, by_memory)))


def _memory_total() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


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
    first, then by scheduled start time; `parents` maps a run to (its parent's id, its
    scheduled start time) for the candidates the backend knows."""
    depth_of = {r.flow_run_id: r.depth for r in runs}

    def key(run_id: str) -> Tuple[int, str]:
        parent, start = parents.get(run_id, (None, ""))
        depth = depth_of[parent] + 1 if parent in depth_of else 0
        return -depth, start

    return sorted(candidates, key=key)


def depth_of(flow_run_id: str, parents: Dict[str, Tuple[Optional[str], str]], runs: Iterable[RunningRun]) -> int:
    """The depth a run gets when it starts: one more than its parent's if the parent is one of
    this agent's runs, else 0."""
    parent = parents.get(flow_run_id, (None, ""))[0]
    for run in runs:
        if run.flow_run_id == parent:
            return run.depth + 1
    return 0
