"""Which task runs of a flow run must run again when the run is restarted or recovered.

Shared by the plugin (restarting a child in place) and the embedded backend (recovering a
run whose process died); it depends on neither: plain rows in, ids out.

A task run reruns when the caller says so (failed, cancelled, left Running by a dead
process...). A successful upstream task run then has to rerun too when its result was not
persisted (no result location: the flow has no `Result` configured): Prefect would
otherwise hand `None` to the task that reruns. That applies transitively, and only to
the upstream tasks of what reruns, so successful work whose value is not needed again is
never repeated.
"""
from collections import defaultdict
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

# States whose value a downstream task reads back from the result location.
_VALUE_STATES = ("Success", "Cached")


def result_is_lost(task_run: Mapping[str, Any]) -> bool:
    """Whether a finished task run's value cannot be read back (it succeeded without a
    persisted result)."""
    state = task_run.get("serialized_state") or {}
    if state.get("type", task_run.get("state")) not in _VALUE_STATES:
        return False
    return not (state.get("_result") or {}).get("location")


def task_runs_to_rerun(
    task_runs: Iterable[Mapping[str, Any]],
    edges: Iterable[Tuple[str, str]],
    must_rerun: Callable[[Mapping[str, Any]], bool],
    runs_anyway: Optional[Callable[[Mapping[str, Any]], bool]] = None,
) -> Set[str]:
    """
    The ids of the task runs to put back to Pending.

    Args:
        - task_runs (Iterable[Mapping]): rows with `id`, `task_id`, `state` and
            `serialized_state`
        - edges (Iterable[Tuple[str, str]]): (upstream task id, downstream task id) pairs
            of the flow
        - must_rerun (Callable): which task runs rerun in any case
        - runs_anyway (Callable, optional): task runs that are not put back but will run on
            the rerun (e.g. still Pending): their upstream values are needed too

    Returns:
        - Set[str]: those that must rerun, plus every successful upstream task run
            (transitively) of them or of the ones that run anyway, whose result was not
            persisted
    """
    rows = list(task_runs)
    by_task: Dict[str, List[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["task_id"]].append(row)
    upstream: Dict[str, Set[str]] = defaultdict(set)
    for up, down in edges:
        upstream[down].add(up)
    chosen = {row["id"] for row in rows if must_rerun(row)}
    todo = {row["task_id"] for row in rows
            if row["id"] in chosen or (runs_anyway is not None and runs_anyway(row))}
    done: Set[str] = set()
    while todo:
        task_id = todo.pop()
        done.add(task_id)
        for up in upstream[task_id]:
            for row in by_task[up]:
                if row["id"] not in chosen and result_is_lost(row):
                    chosen.add(row["id"])
                    if up not in done:
                        todo.add(up)
    return chosen
