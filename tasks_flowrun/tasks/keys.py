"""What identifies a child run: its default idempotency key, run name and parent record.

This module is the one place that derives these from the Prefect context, so that
`CreateFlowRun` (and anything else that needs to find "the child of this task") agree.

The default idempotency key is derived from

- the parent **flow run id**: identical across restarts of the parent run (a restart keeps
  the flow run id) and across task retries; on a local `flow.run()` Prefect 1 still puts a
  per-run uuid in the context, so keys are stable within that run and fresh for the next;
- the **task slug**: unique per task within the parent flow and stable across re-runs of the
  same registered flow, so two create tasks in one parent get two children;
- the **map index**: one child per mapped element;
- the **loop count** when the task loops (`LOOP` signal), one child per iteration;
- in a local `flow.run()` (no backend), the run's **scheduled start time**: Prefect keeps one
  flow run id for every iteration of a scheduled local run, and only this tells them apart;
- the **call number** when one task run calls `create_flow_run.run()` several times (the
  first call has no suffix, the 2nd gets `~2`...). Calls are counted per task run attempt
  (flow run, task run, slug, map index, `task_run_count`, loop count), so a retry or a
  restart numbers its calls from 1 again and maps each one to the key it had before.

We prefer the flow run id + slug to the task run id: a task run id is only stable if the
backend pre-creates task runs (or get-or-creates them on a unique triple), which a backend
may not promise, while the flow run id and the slug are stable by construction.
"""
import threading
from collections import OrderedDict
from typing import Any, Dict, Hashable, Mapping, Optional, Tuple

import prefect

# Context keys recorded in every child's flow-run context.
PARENT_FLOW_RUN_ID = "parent_flow_run_id"
PARENT_TASK_RUN_ID = "parent_task_run_id"
PARENT_MAP_INDEX = "parent_map_index"
# Whether cancelling the parent cancels the child (the embedded backend reads it).
CANCEL_WITH_PARENT = "cancel_with_parent"


def _map_index(ctx: Mapping[str, Any]) -> Optional[int]:
    index = ctx.get("map_index")
    return index if isinstance(index, int) and index >= 0 else None


class CallCounter:
    """
    Numbers the calls made within one scope (thread-safe, bounded).

    The scope least recently used is forgotten once `limit` scopes are known, which only
    matters for a task run still creating children after `limit` other task runs did in
    the same process.

    Args:
        - limit (int, optional): how many scopes to remember; defaults to 10,000
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._counts: "OrderedDict[Hashable, int]" = OrderedDict()
        self._lock = threading.Lock()

    def next(self, scope: Hashable) -> int:
        """The number of this call within `scope`: 1 for the first call, then 2, 3..."""
        with self._lock:
            count = self._counts.pop(scope, 0) + 1
            self._counts[scope] = count
            while len(self._counts) > self.limit:
                self._counts.popitem(last=False)
            return count

    def __len__(self) -> int:
        return len(self._counts)


CREATE_CALLS = CallCounter()


def _attempt_scope(ctx: Mapping[str, Any]) -> Optional[Tuple[Any, ...]]:
    """What identifies one attempt of one task run, or `None` outside a task run."""
    run_count = ctx.get("task_run_count")
    if not isinstance(run_count, int):
        # Set by Prefect's task runner for every attempt; without it nothing tells a
        # second call from a re-run, so every call is the first.
        return None
    return (
        ctx.get("flow_run_id"),
        ctx.get("task_run_id"),
        ctx.get("task_slug") or ctx.get("task_name"),
        _map_index(ctx),
        run_count,
        ctx.get("task_loop_count"),
    )


def _local_iteration(ctx: Mapping[str, Any]) -> Optional[str]:
    """The scheduled start time of a local run (no backend), as text; else `None`."""
    if ctx.get("running_with_backend"):
        return None
    start = ctx.get("scheduled_start_time")
    if start is None:
        return None
    return start.isoformat() if hasattr(start, "isoformat") else str(start)


def default_idempotency_key(ctx: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """
    The default idempotency key of the next child created by the current task run.

    Inside a task run each call counts as one child created (see the module docstring):
    call it once per create.

    Args:
        - ctx (Mapping, optional): the Prefect context to read; defaults to
            `prefect.context`

    Returns:
        - str: e.g. `"<parent flow run id>:<task slug>[3]"`, or `None` when there is no
            parent flow run nor task run to derive it from (then every call creates a
            new child)
    """
    ctx = prefect.context if ctx is None else ctx
    scope = _attempt_scope(ctx)
    call = CREATE_CALLS.next(scope) if scope is not None else 1
    suffix = f"~{call}" if call > 1 else ""
    flow_run_id = ctx.get("flow_run_id")
    slug = ctx.get("task_slug") or ctx.get("task_name")
    if not flow_run_id:
        # Outside a flow run only a task run id can tie retries together
        task_run_id = ctx.get("task_run_id")
        return f"{task_run_id}{suffix}" if task_run_id else None
    key = str(flow_run_id)
    iteration = _local_iteration(ctx)
    if iteration is not None:
        key += f"@{iteration}"
    key += f":{slug or 'task'}"
    index = _map_index(ctx)
    if index is not None:
        key += f"[{index}]"
    loop = ctx.get("task_loop_count")
    if isinstance(loop, int) and loop > 1:
        key += f"#{loop}"
    return key + suffix


def default_run_name(flow_name: str, ctx: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """
    The default name of a child run: `<parent run name>-<child flow name>[-<map index>]`.

    Args:
        - flow_name (str): the child flow's name
        - ctx (Mapping, optional): the Prefect context; defaults to `prefect.context`

    Returns:
        - str: the name, or `None` outside a flow run (the backend then picks one)
    """
    ctx = prefect.context if ctx is None else ctx
    parent = ctx.get("flow_run_name")
    if not parent:
        return None
    name = f"{parent}-{flow_name}"
    index = _map_index(ctx)
    return name if index is None else f"{name}-{index}"


def parent_context(ctx: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """
    The keys recorded in a child's context so it can be traced to its parent.

    Args:
        - ctx (Mapping, optional): the Prefect context; defaults to `prefect.context`

    Returns:
        - dict: `parent_flow_run_id`, `parent_task_run_id` and `parent_map_index`
            (only the ones known); empty outside a flow run run with a backend: a local
            `flow.run()` has ids the backend never knew, which name no parent there
    """
    ctx = prefect.context if ctx is None else ctx
    record: Dict[str, Any] = {}
    if not ctx.get("running_with_backend"):
        return record
    if ctx.get("flow_run_id"):
        record[PARENT_FLOW_RUN_ID] = ctx.get("flow_run_id")
    if ctx.get("task_run_id"):
        record[PARENT_TASK_RUN_ID] = ctx.get("task_run_id")
    index = _map_index(ctx)
    if record and index is not None:
        record[PARENT_MAP_INDEX] = index
    return record
