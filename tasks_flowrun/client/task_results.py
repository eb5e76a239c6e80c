"""Read the task runs of a flow run by task slug: what `GetTaskRunResult` polls.

The documents are built like those of `queries` (nested dicts for `Client.graphql`), with
every per-call value in GraphQL variables, so each document's text is constant. A poll
selects the flow run's state and the one task run asked for: no state history, no logs,
no serialized flow.
"""
from typing import Any, Dict, List, NamedTuple, Optional, Set

import prefect
from prefect.utilities.graphql import EnumValue, with_args

from .errors import BackendRejectedError, FlowRunNotFoundError

TASK_RUN_FIELDS: Dict[str, Any] = {"id": True, "map_index": True, "serialized_state": True}


def _var(name: str) -> EnumValue:
    return EnumValue(f"${name}")


def _task_runs_where(map_index: Any) -> Dict[str, Any]:
    return {
        "flow_run_id": {"_eq": _var("flow_run_id")},
        "task": {"slug": {"_eq": _var("slug")}},
        "map_index": map_index,
    }


# The flow run's state and its task run with one slug and map index.
POLL_TASK_RUN: Dict[str, Any] = {
    "query($flow_run_id: uuid, $slug: String, $map_index: Int)": {
        with_args("flow_run", {"where": {"id": {"_eq": _var("flow_run_id")}}}): {
            "id": True,
            "name": True,
            "serialized_state": True,
        },
        with_args("task_run", {"where": _task_runs_where({"_eq": _var("map_index")})}): TASK_RUN_FIELDS,
    }
}

# Every mapped child (map index >= 0) of one task in a flow run, in map-index order.
MAPPED_TASK_RUNS: Dict[str, Any] = {
    "query($flow_run_id: uuid, $slug: String)": {
        with_args(
            "task_run",
            {"where": _task_runs_where({"_gte": 0}), "order_by": {EnumValue("map_index"): EnumValue("asc")}},
        ): TASK_RUN_FIELDS
    }
}

# The slugs of the tasks of a flow run's flow (only read to explain a miss).
TASK_SLUGS: Dict[str, Any] = {
    "query($flow_run_id: uuid)": {
        with_args("flow_run", {"where": {"id": {"_eq": _var("flow_run_id")}}}): {"flow": {"tasks": {"slug": True}}}
    }
}


class TaskRunPoll(NamedTuple):
    """What one poll found: the flow run's name and serialized state, and the task run (if any)."""

    flow_run_name: str
    flow_run_state: Dict[str, Any]
    task_run: Optional[Dict[str, Any]]


def poll_task_run(client: "prefect.Client", flow_run_id: str, task_slug: str, map_index: int) -> TaskRunPoll:
    """
    Read the flow run's state and its task run with `task_slug` and `map_index`, in one
    request.

    Args:
        - client (prefect.Client): the client
        - flow_run_id (str): the flow run
        - task_slug (str): the task's slug in the flow run's flow
        - map_index (int): the map index; -1 for an unmapped task (or a mapped parent)

    Returns:
        - TaskRunPoll: the flow run's name and serialized state, and the task run's row (`id`,
            `map_index`, `serialized_state`) or `None` if there is none (yet)

    Raises:
        - FlowRunNotFoundError: the flow run does not exist
    """
    variables: Dict[str, Any] = {"flow_run_id": flow_run_id, "slug": task_slug, "map_index": map_index}
    data = _data(client.graphql(POLL_TASK_RUN, variables=variables))
    runs = data.get("flow_run") or []
    if not runs:
        raise FlowRunNotFoundError(f"No flow run found with id {flow_run_id!r}.")
    rows = data.get("task_run") or []
    flow_run = _plain(runs[0])
    return TaskRunPoll(flow_run["name"], flow_run["serialized_state"], _plain(rows[0]) if rows else None)


def mapped_task_runs(client: "prefect.Client", flow_run_id: str, task_slug: str) -> List[Dict[str, Any]]:
    """
    The mapped children of a task in a flow run, in map-index order, in one request.

    Args:
        - client (prefect.Client): the client
        - flow_run_id (str): the flow run
        - task_slug (str): the mapped task's slug

    Returns:
        - List[dict]: rows with `id`, `map_index`, `serialized_state`
    """
    data = _data(client.graphql(MAPPED_TASK_RUNS, variables={"flow_run_id": flow_run_id, "slug": task_slug}))
    return [_plain(row) for row in data.get("task_run") or []]


def task_slugs(client: "prefect.Client", flow_run_id: str) -> List[str]:
    """
    The slugs of the tasks of the flow a flow run runs, sorted.

    Args:
        - client (prefect.Client): the client
        - flow_run_id (str): the flow run

    Returns:
        - List[str]: the slugs (empty if the flow run does not exist)
    """
    data = _data(client.graphql(TASK_SLUGS, variables={"flow_run_id": flow_run_id}))
    slugs: Set[str] = set()
    for run in data.get("flow_run") or []:
        slugs.update(task["slug"] for task in (run.get("flow") or {}).get("tasks") or [])
    return sorted(slugs)


def _data(result: Any) -> Dict[str, Any]:
    data = result.get("data") if hasattr(result, "get") else None
    if data is None:
        raise BackendRejectedError(f"The backend answered a task run query without data: {result}")
    return data


def _plain(row: Any) -> Dict[str, Any]:
    """A plain dict (the client returns `box.Box` objects)."""
    return row.to_dict() if hasattr(row, "to_dict") else dict(row)
