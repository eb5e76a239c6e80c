"""Resolvers of the fields only the Prefect UI asks for (sdl/ui.graphql).

- `utility_downstream_tasks`: what Prefect Server's `utility.downstream_tasks` function
  answers, the tasks reachable from the start tasks along edges (the start tasks at depth
  0), each with its deepest depth up to `depth_limit`; the UI restarts a run from there.
"""
import uuid
from typing import Any, Dict, Iterable, List, Optional, Set

from ...storage.reads import select_rows
from ..errors import UserError

DEPTH_LIMIT = 50  # Prefect Server's default


def parse_uuid_array(text: Any) -> List[str]:
    """A Postgres array literal of ids ("{a,b}"), as Hasura takes `_uuid`; a list is accepted too."""
    if isinstance(text, list):
        items: Iterable[Any] = text
    elif isinstance(text, str) and text.strip().startswith("{") and text.strip().endswith("}"):
        items = [part.strip().strip('"') for part in text.strip()[1:-1].split(",") if part.strip()]
    else:
        raise UserError(f"Invalid _uuid {text!r}: expected an array literal such as '{{id1,id2}}'.")
    try:
        return [str(uuid.UUID(str(item))) for item in items]
    except ValueError:
        raise UserError(f"Invalid _uuid {text!r}: every item must be a UUID.") from None


def downstream_depths(start: Set[str], edges: Iterable[Dict[str, Any]], depth_limit: int) -> Dict[str, int]:
    """Each task reachable from `start` (depth 0) with the depth of its deepest path, at most `depth_limit`."""
    downstream: Dict[str, Set[str]] = {}
    for edge in edges:
        downstream.setdefault(edge["upstream_task_id"], set()).add(edge["downstream_task_id"])
    depths = {task_id: 0 for task_id in start}
    frontier = set(start)
    for depth in range(1, depth_limit + 1):
        frontier = {d for task_id in frontier for d in downstream.get(task_id, ())}
        if not frontier:
            break
        for task_id in frontier:
            depths[task_id] = depth
    return depths


def utility_downstream_tasks(_root: Any, info: Any, args: Dict[str, Any], limit: Optional[int] = None,
                             offset: Optional[int] = None) -> List[Dict[str, Any]]:
    ctx = info.context
    ctx.budget.check()
    ids = parse_uuid_array(args.get("start_task_ids") or "{}")
    depth_limit = DEPTH_LIMIT if args.get("depth_limit") is None else max(int(args["depth_limit"]), 0)
    tasks = select_rows(ctx.conn, "task", {"id": {"_in": ids}}) if ids else []
    if not tasks:
        return []
    flow_ids = sorted({t["flow_id"] for t in tasks})
    edges = select_rows(ctx.conn, "edge", {"flow_id": {"_in": flow_ids}})
    depths = downstream_depths({t["id"] for t in tasks}, edges, depth_limit)
    rows = select_rows(ctx.conn, "task", {"id": {"_in": sorted(depths)}})
    ctx.remember(rows)  # their `task_runs` load in one batch
    found = sorted(({"task_id": row["id"], "depth": depths[row["id"]], "task": row} for row in rows),
                   key=lambda r: (r["depth"], r["task_id"]))
    start = offset or 0
    return found[start:] if limit is None else found[start:start + max(limit, 0)]


QUERY_RESOLVERS = {"utility_downstream_tasks": utility_downstream_tasks}
