"""What identifies a child run: its default idempotency key, run name and parent record.

This module is the one place that derives these from the Prefect context, so that
`CreateFlowRun` (and anything else that needs to find "the child of this task") agree.

The default idempotency key is a pure function of

- the parent **flow run id**: identical across restarts of the parent run (a restart keeps
  the flow run id) and across task retries; on a local `flow.run()` Prefect 1 still puts a
  per-run uuid in the context, so keys are stable within that run and fresh for the next;
- the **task slug**: unique per task within the parent flow and stable across re-runs of the
  same registered flow, so two create tasks in one parent get two children;
- the **map index**: one child per mapped element;
- the **loop count** when the task loops (`LOOP` signal), one child per iteration.

We prefer the flow run id + slug to the task run id: a task run id is only stable if the
backend pre-creates task runs (or get-or-creates them on a unique triple), which a backend
may not promise, while the flow run id and the slug are stable by construction.
"""
from typing import Any, Dict, Mapping, Optional

import prefect

# Context keys recorded in every child's flow-run context.
PARENT_FLOW_RUN_ID = "parent_flow_run_id"
PARENT_TASK_RUN_ID = "parent_task_run_id"
PARENT_MAP_INDEX = "parent_map_index"


def _map_index(ctx: Mapping[str, Any]) -> Optional[int]:
    index = ctx.get("map_index")
    return index if isinstance(index, int) and index >= 0 else None


def default_idempotency_key(ctx: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """
    The default idempotency key of the child created by the current task run.

    Args:
        - ctx (Mapping, optional): the Prefect context to read; defaults to
            `prefect.context`

    Returns:
        - str: e.g. `"<parent flow run id>:<task slug>[3]"`, or `None` when there is no
            parent flow run to derive it from (then every call creates a new child)
    """
    ctx = prefect.context if ctx is None else ctx
    flow_run_id = ctx.get("flow_run_id")
    slug = ctx.get("task_slug") or ctx.get("task_name")
    if not flow_run_id:
        # Outside a flow run only a task run id can tie retries together
        return ctx.get("task_run_id") or None
    key = f"{flow_run_id}:{slug or 'task'}"
    index = _map_index(ctx)
    if index is not None:
        key += f"[{index}]"
    loop = ctx.get("task_loop_count")
    if isinstance(loop, int) and loop > 1:
        key += f"#{loop}"
    return key


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
            (only the ones known; empty outside a flow run)
    """
    ctx = prefect.context if ctx is None else ctx
    record: Dict[str, Any] = {}
    if ctx.get("flow_run_id"):
        record[PARENT_FLOW_RUN_ID] = ctx.get("flow_run_id")
    if ctx.get("task_run_id"):
        record[PARENT_TASK_RUN_ID] = ctx.get("task_run_id")
    index = _map_index(ctx)
    if record and index is not None:
        record[PARENT_MAP_INDEX] = index
    return record
