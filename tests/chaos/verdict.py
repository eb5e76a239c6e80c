"""What a scenario must show once its parent run finished:

- every run finished: the parent and each child, Success (no fault here should fail anything);
- one child per map index (the children are found by the idempotency keys of the parent);
- every task executed, and exactly once, except a task whose process was SIGKILLed while it
  executed it: that one runs again. Each extra execution must be explained by an earlier
  execution of the same task that never ended and whose process this scenario killed;
- no run went from Running back to Scheduled (the backend's reschedule of a run whose
  process it believes dead) more often than its processes were killed: a backend that
  takes a live process for a dead one hands its work to a second process, which is where
  duplicate executions come from (whether they happen then depends on which process gets
  there first, so this is checked on its own). A run whose process never started (its
  agent died between Submitted and the start) is rescheduled from Submitted: not counted.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Set

from tests.chaos import schedule
from tests.chaos.evidence import Evidence, Execution, TaskKey

SHOWN = 6  # examples listed per kind of problem


@dataclass
class Verdict:
    executions: int = 0
    extra: int = 0
    explained: int = 0
    false_deaths: int = 0  # Running -> Scheduled of runs beyond the kills of their processes
    problems: List[str] = field(default_factory=list)
    duplicates: List[str] = field(default_factory=list)  # one line per task executed more than once

    @property
    def unexplained(self) -> int:
        return self.extra - self.explained

    @property
    def passed(self) -> bool:
        return not self.problems


def judge(evidence: Evidence, parent: Optional[Dict[str, Any]], children: Optional[List[Dict[str, Any]]],
          histories: Optional[Dict[str, List[str]]], killed_pids: Iterable[int],
          kills_per_run: Dict[str, int]) -> Verdict:
    verdict = Verdict()
    children = children or []
    _judge_runs(verdict, parent, children)
    _judge_deaths(verdict, ([parent] if parent else []) + children, histories, kills_per_run)
    expected = _expected_tasks(parent, children)
    _judge_executions(verdict, evidence.by_task(), expected, set(killed_pids))
    return verdict


def _judge_runs(verdict: Verdict, parent: Optional[Dict[str, Any]], children: List[Dict[str, Any]]) -> None:
    if parent is None:
        verdict.problems.append("the parent run could not be read")
    elif parent["state"] != "Success":
        verdict.problems.append(f"the parent ended {parent['state']}: {parent.get('state_message')}")
    by_index: Dict[Any, List[str]] = defaultdict(list)
    for child in children:
        by_index[(child.get("context") or {}).get("parent_map_index")].append(child["id"])
    doubled = {index: ids for index, ids in by_index.items() if len(ids) > 1}
    if doubled:
        verdict.problems.append(f"several children for one map index: {dict(list(doubled.items())[:SHOWN])}")
    missing = sorted(set(range(schedule.CHILDREN)) - set(by_index))
    if missing:
        verdict.problems.append(f"no child for map indexes {missing}")
    unsuccessful = [f"{c['name']} {c['state']} ({c.get('state_message')})" for c in children if c["state"] != "Success"]
    if unsuccessful:
        verdict.problems.append(f"{len(unsuccessful)} children did not succeed: {unsuccessful[:SHOWN]}")


def reschedules_from_running(history: List[str]) -> int:
    """How often the run went from Running straight back to Scheduled."""
    return sum(1 for before, after in zip(history, history[1:]) if before == "Running" and after == "Scheduled")


def _judge_deaths(verdict: Verdict, runs: List[Dict[str, Any]], histories: Optional[Dict[str, List[str]]],
                  kills_per_run: Dict[str, int]) -> None:
    if histories is None:
        verdict.problems.append("the runs' state histories could not be read")
        return
    false = []
    for run in runs:
        beyond = reschedules_from_running(histories.get(run["id"], [])) - kills_per_run.get(run["id"], 0)
        if beyond > 0:
            verdict.false_deaths += beyond
            false.append(f"{run['name']} {beyond}x")
    if false:
        verdict.problems.append(f"{len(false)} runs were rescheduled as dead more often than their processes were "
                                f"killed (a live process taken for a dead one): {', '.join(false[:SHOWN])}")


def _expected_tasks(parent: Optional[Dict[str, Any]], children: List[Dict[str, Any]]) -> Set[TaskKey]:
    keys: Set[TaskKey] = set()
    if parent is not None:
        keys.add((parent["id"], "plan", -1))
    for child in children:
        keys.add((child["id"], "prepare", -1))
        keys.add((child["id"], "finish", -1))
        keys.update((child["id"], "work", step) for step in range(schedule.STEPS))
    return keys


def _judge_executions(verdict: Verdict, groups: Dict[TaskKey, List[Execution]], expected: Set[TaskKey],
                      killed: Set[int]) -> None:
    verdict.executions = sum(len(executions) for executions in groups.values())
    strangers = sorted(set(groups) - expected)
    if strangers:
        verdict.problems.append(f"executions of task runs the fan-out does not have: {strangers[:SHOWN]}")
    never = sorted(key for key in expected if not any(e.ended is not None for e in groups.get(key, [])))
    if never:
        verdict.problems.append(f"{len(never)} tasks never completed an execution: {never[:SHOWN]}")
    unexplained_lines = []
    for key in sorted(groups):
        executions = groups[key]
        extra = len(executions) - 1
        if extra <= 0:
            continue
        interrupted_by_kill = [e for e in executions if e.ended is None and e.pid in killed]
        explained = min(extra, len(interrupted_by_kill))
        verdict.extra += extra
        verdict.explained += explained
        line = (f"{executions[0].describe().split(' by pid')[0]} executed {len(executions)} times: "
                + ", ".join(f"pid {e.pid} {'ended' if e.ended is not None else 'never ended'}"
                            f"{' (killed by the suite)' if e.pid in killed else ''}" for e in executions))
        verdict.duplicates.append(line)
        if extra > explained:
            unexplained_lines.append(line)
    if unexplained_lines:
        verdict.problems.append(f"{verdict.unexplained} extra executions no kill explains, e.g. "
                                + "; ".join(unexplained_lines[:SHOWN]))
