"""Create a flow run; read the states (and logs) of many runs in one query; build views.

No second child under retries, restarts or re-registration, in two layers:

1. The flow look-up (`flows.find_child_flow`) also selects runs already created with the
   idempotency key for the same flow group; if there is one, no create is sent at all.
   This holds whatever the backend's idempotency scope, and even when the version first
   used has been archived since. (A child resolved from the look-up cache skips this layer;
   if the backend then refuses the create, `child_runs` falls back to the look-up.)
2. The create itself is idempotent on the backend. When the child was identified by name or
   flow group, the run is created by `version_group_id`, not by the flow id found at look-up
   time: Prefect Server then scopes the key by the version group (and by `flow_id`
   otherwise) and runs the group's newest unarchived version; the embedded backend scopes
   keys by flow group, one-to-one with the version group. So two creates racing with one
   key, or a resend after a timeout, still give one run. When the caller pinned an exact
   flow id, the run is created by `flow_id`, which a retry resolves to again.

Creating by `flow_group_id` would also work on the embedded backend and Prefect Cloud, but
Prefect Server's `create_flow_run_input` has no such field, so `version_group_id` is the
portable choice.
"""
from typing import Any, Dict, List, Optional

import prefect
import requests
from prefect.backend import FlowRunView
from prefect.exceptions import ClientError

from .. import prefect_private
from . import queries
from .errors import (
    PARENT_CODES,
    BackendRejectedError,
    FlowRunNotFoundError,
    ParentGoneError,
    backend_messages,
    error_codes,
    http_refusal,
)
from .flows import ChildFlow


def send_create_flow_run(client: "prefect.Client", child: ChildFlow, inputs: Dict[str, Any]) -> str:
    """
    Create a run of `child` with one request.

    Args:
        - client (prefect.Client): the client to send the mutation with
        - child (ChildFlow): the flow found by `find_child_flow`
        - inputs (dict): the other `create_flow_run_input` fields (idempotency_key,
            parameters, context, labels, flow_run_name, run_config, scheduled_start_time),
            already validated and JSON-ready; `None` values are left out

    Returns:
        - str: the flow run id (an existing run's id if the key was used before)

    Raises:
        - ParentGoneError: the parent named in the context is cancelled or was deleted
        - BackendRejectedError: the backend refused (e.g. a required parameter is missing)
    """
    payload = {key: value for key, value in inputs.items() if value is not None}
    payload.update(flow_reference(child))
    try:
        result = client.graphql(queries.CREATE_FLOW_RUN, variables={"input": payload})
    except ClientError as exc:
        gone = [PARENT_CODES[code] for code in error_codes(exc) if code in PARENT_CODES]
        if gone:
            parent = (payload.get("context") or {}).get("parent_flow_run_id")
            raise ParentGoneError(
                f"No child flow run of flow {child.name!r} was created: its parent flow run {parent} was "
                f"{gone[0]}. The backend says: {backend_messages(exc)}"
            ) from None
        raise BackendRejectedError(
            f"The backend refused to create a run of flow {child.name!r}: {backend_messages(exc)}"
        ) from None
    except requests.HTTPError as exc:
        refusal = http_refusal(exc)
        if refusal is None:
            raise
        raise BackendRejectedError(f"Could not create a run of flow {child.name!r}: {refusal}") from None
    flow_run_id = ((result.get("data") or {}).get("create_flow_run") or {}).get("id")
    if not flow_run_id:
        raise BackendRejectedError(f"The backend returned no flow run id for flow {child.name!r}: {result}")
    return flow_run_id


def flow_reference(child: ChildFlow) -> Dict[str, Optional[str]]:
    """
    How a create refers to `child`: by `flow_id` when pinned (or without a version group),
    otherwise by `version_group_id`, so that the group's newest unarchived version runs.

    Args:
        - child (ChildFlow): the flow found by `find_child_flow`

    Returns:
        - dict: `{"flow_id": ...}` or `{"version_group_id": ...}`
    """
    if child.pinned or not child.version_group_id:
        return {"flow_id": child.flow_id}
    return {"version_group_id": child.version_group_id}


READ_CHUNK = 1_000  # ids per flow run query (any number of ids is read in chunks)
READ_CHUNK_WITH_LOGS = 100  # ... when logs are read too (a first read takes each run's newest lines)


def read_flow_runs(
    client: "prefect.Client",
    flow_run_ids: List[str],
    with_logs: bool = False,
    logs_after: Optional[str] = None,
    logs_tail: Optional[int] = None,
) -> Dict[str, Dict[str, Any]]:
    """
    Read many flow runs: one request per `READ_CHUNK` ids (`READ_CHUNK_WITH_LOGS` with logs).

    Each row has what `views_from_rows` builds a `FlowRunView` from (id, name, flow_id,
    serialized_state, states, labels, parameters, context, updated, run_config), plus
    `version` and `state_timestamp`, and `logs` if asked.

    Args:
        - client (prefect.Client): the client
        - flow_run_ids (List[str]): the runs to read (distinct ids)
        - with_logs (bool, optional): include each run's logs (`logs`)
        - logs_after (str, optional): only logs stored (the backend's `created` time) after
            this ISO time
        - logs_tail (int, optional): without `logs_after`, only each run's newest this many
            logs (a first read of a run with a long history)

    Returns:
        - dict: flow run id -> its row; unknown ids are absent
    """
    document = queries.poll_flow_runs(with_logs, logs_after=bool(logs_after),
                                      logs_tail=None if logs_after else logs_tail)
    size = READ_CHUNK_WITH_LOGS if with_logs else READ_CHUNK
    found: Dict[str, Dict[str, Any]] = {}
    for start in range(0, len(flow_run_ids), size):
        variables: Dict[str, Any] = {"ids": list(flow_run_ids[start:start + size])}
        if with_logs and logs_after:
            variables["after"] = logs_after
        rows = (client.graphql(document, variables=variables).get("data") or {}).get("flow_run")
        if rows is None:
            raise BackendRejectedError("The backend answered a flow run query without `flow_run` data.")
        found.update((row["id"], _plain(row)) for row in rows)
    return found


def views_from_rows(rows: Dict[str, Dict[str, Any]], flow_run_ids: List[str]) -> List[FlowRunView]:
    """
    `FlowRunView`s built from rows already read (by `read_flow_runs` or a watch answer),
    in the order of `flow_run_ids`, without a request.

    Args:
        - rows (dict): flow run id -> row with the view's fields
        - flow_run_ids (List[str]): the runs (duplicates allowed)

    Returns:
        - List[FlowRunView]: one view per id, same order

    Raises:
        - FlowRunNotFoundError: if an id has no row
    """
    missing = [run_id for run_id in dict.fromkeys(flow_run_ids) if run_id not in rows]
    if missing:
        raise FlowRunNotFoundError(f"No flow run found with id(s) {missing!r}.")
    # from exactly the view's fields
    views = {run_id: prefect_private.flow_run_view({name: rows[run_id].get(name) for name in VIEW_KEYS})
             for run_id in dict.fromkeys(flow_run_ids)}
    return [views[run_id] for run_id in flow_run_ids]


VIEW_KEYS = tuple(queries.FLOW_RUN_VIEW_FIELDS)


def flow_run_views(client: "prefect.Client", flow_run_ids: List[str]) -> List[FlowRunView]:
    """
    `FlowRunView`s of many runs (one request per `READ_CHUNK` distinct ids), in the order
    of `flow_run_ids`.

    Args:
        - client (prefect.Client): the client
        - flow_run_ids (List[str]): the runs (duplicates allowed)

    Returns:
        - List[FlowRunView]: one view per id, same order

    Raises:
        - FlowRunNotFoundError: if an id does not exist
    """
    unique = list(dict.fromkeys(flow_run_ids))
    rows: Dict[str, Dict[str, Any]] = {}
    for start in range(0, len(unique), READ_CHUNK):
        result = client.graphql(queries.flow_run_views(), variables={"ids": unique[start:start + READ_CHUNK]})
        rows.update((row["id"], _plain(row)) for row in (result.get("data") or {}).get("flow_run") or [])
    return views_from_rows(rows, flow_run_ids)


def read_agents(client: "prefect.Client") -> List[Dict[str, Any]]:
    """
    The agents the backend knows, with their labels and last query time.

    Args:
        - client (prefect.Client): the client

    Returns:
        - List[dict]: rows with `id`, `name`, `labels`, `last_queried`
    """
    rows = (client.graphql(queries.AGENTS).get("data") or {}).get("agent") or []
    return [_plain(row) for row in rows]


def _plain(row: Any) -> Dict[str, Any]:
    """A plain dict (the client returns `box.Box` objects)."""
    return row.to_dict() if hasattr(row, "to_dict") else dict(row)


def flow_run_url(tenant_slug: Optional[str], flow_run_id: str) -> Optional[str]:
    """
    The UI address of a flow run, built without a request (unlike `Client.get_cloud_url`).

    Args:
        - tenant_slug (str, optional): the tenant's slug, from the flow look-up
        - flow_run_id (str): the run

    Returns:
        - str: e.g. `http://localhost:8080/default/flow-run/<id>`, or `None` without a slug
    """
    if not tenant_slug:
        return None
    api = str(prefect.config.cloud.api)
    if prefect.config.backend == "cloud" or ".prefect.io" in api:
        # Prefect Cloud's UI lives on the API host with "api" swapped for "cloud"
        host = api.replace("api-", "", 1) if "api-" in api else api.replace("api", "cloud", 1)
    else:
        host = str(prefect.config.server.ui.endpoint)
    return f"{host.rstrip('/')}/{tenant_slug}/flow-run/{flow_run_id}"


def flow_run_ids_or_refusal(result: Any, field: str, expected: int) -> List[str]:
    """
    The ids a `create_flow_run` (one) or `create_flow_runs` (several) answer carries.

    Args:
        - result (Any): the GraphQL result (`Client.graphql`'s answer)
        - field (str): `create_flow_run` or `create_flow_runs`
        - expected (int): how many ids the request asked for

    Returns:
        - List[str]: the ids

    Raises:
        - BackendRejectedError: the answer does not hold that many ids
    """
    payload = ((result or {}).get("data") or {}).get(field) or {}
    ids = payload.get("ids") if field == "create_flow_runs" else [payload.get("id")]
    if not isinstance(ids, list) or len(ids) != expected or not all(isinstance(i, str) and i for i in ids):
        raise BackendRejectedError(f"The backend's answer to {field} holds no {expected} flow run id(s): {result}")
    return list(ids)
