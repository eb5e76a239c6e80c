"""Every GraphQL document the plugin sends, in one place.

Documents are built as nested dicts with `prefect.utilities.graphql.with_args` /
`EnumValue`, exactly the dialect `prefect.Client.graphql` renders, so any Prefect 1 backend
that serves the stock client also serves these. They select only the fields the plugin
reads: a flow look-up never selects `serialized_flow`, a poll never selects parameters,
context or run config, and state history is selected only when states are streamed.
"""
from typing import Any, Dict, List, Optional

from prefect.utilities.graphql import EnumValue, with_args

FLOW_FIELDS: Dict[str, Any] = {
    "id": True,
    "name": True,
    "version": True,
    "archived": True,
    "flow_group_id": True,
    "version_group_id": True,
    "project": {"name": True},
}

# The selection `prefect.backend.FlowRunView` is built from (its constructor takes exactly
# these keys, so the set must not change).
FLOW_RUN_VIEW_FIELDS: Dict[str, Any] = {
    "id": True,
    "name": True,
    "flow_id": True,
    "serialized_state": True,
    "states": {"timestamp": True, "serialized_state": True},
    "labels": True,
    "parameters": True,
    "context": True,
    "updated": True,
    "run_config": True,
}

CREATE_FLOW_RUN: Dict[str, Any] = {
    "mutation($input: create_flow_run_input!)": {"create_flow_run(input: $input)": {"id": True}}
}

AGENTS: Dict[str, Any] = {
    "query": {"agent": {"id": True, "name": True, "labels": True, "last_queried": True}}
}


def flow_lookup(where: Dict[str, Any], idempotency_key: Optional[str] = None) -> Dict[str, Any]:
    """
    One request that finds the candidate flows, the tenant slugs (for run URLs) and, given
    a key, the runs of those flows already created with it.

    Args:
        - where (dict): a Hasura `where` clause on `flow`
        - idempotency_key (str, optional): also select runs with this key whose flow
            matches `where`

    Returns:
        - dict: the document, for `Client.graphql`
    """
    flows = with_args("flow", {"where": where, "order_by": {"version": EnumValue("desc")}})
    document: Dict[str, Any] = {flows: FLOW_FIELDS, "tenant": {"id": True, "slug": True}}
    if idempotency_key:
        run_where = {"idempotency_key": {"_eq": idempotency_key}, "flow": where}
        document[with_args("flow_run", {"where": run_where})] = {"id": True, "flow": {"flow_group_id": True}}
    return {"query": document}


def where_flow_or_group_id(flow_or_group_id: str) -> Dict[str, Any]:
    """A `where` matching the flow with this id, or the flows of the group with this id."""
    return {"_or": [{"id": {"_eq": flow_or_group_id}}, {"flow_group_id": {"_eq": flow_or_group_id}}]}


def where_flow_group_id(flow_group_id: str) -> Dict[str, Any]:
    """A `where` matching every flow (every version) of one flow group."""
    return {"flow_group_id": {"_eq": flow_group_id}}


def where_flow_name(flow_name: str, project_name: Optional[str]) -> Dict[str, Any]:
    """A `where` matching every version of flows with this name (in this project, if given)."""
    where: Dict[str, Any] = {"name": {"_eq": flow_name}}
    if project_name:
        where["project"] = {"name": {"_eq": project_name}}
    return where


def poll_flow_runs(
    flow_run_ids: List[str],
    with_states: bool,
    with_logs: bool,
    logs_after: Optional[str] = None,
) -> Dict[str, Any]:
    """
    One request reading the current state of many runs (and optionally history and logs).

    Args:
        - flow_run_ids (List[str]): the runs to read
        - with_states (bool): also select each run's state history (to stream it)
        - with_logs (bool): also select each run's logs
        - logs_after (str, optional): ISO timestamp; only logs strictly after it

    Returns:
        - dict: the document, for `Client.graphql`
    """
    fields: Dict[str, Any] = {
        "id": True,
        "name": True,
        "version": True,
        "labels": True,
        "serialized_state": True,
    }
    if with_states:
        fields["states"] = {"timestamp": True, "serialized_state": True}
    if with_logs:
        log_args: Dict[str, Any] = {"order_by": {EnumValue("timestamp"): EnumValue("asc")}}
        if logs_after:
            log_args["where"] = {"timestamp": {"_gt": logs_after}}
        fields[with_args("logs", log_args)] = {"timestamp": True, "level": True, "message": True}
    where = {"id": {"_in": list(flow_run_ids)}}
    return {"query": {with_args("flow_run", {"where": where}): fields}}


def flow_run_views(flow_run_ids: List[str]) -> Dict[str, Any]:
    """
    One request reading what `FlowRunView` needs, for many runs.

    Args:
        - flow_run_ids (List[str]): the runs to read

    Returns:
        - dict: the document, for `Client.graphql`
    """
    where = {"id": {"_in": list(flow_run_ids)}}
    return {"query": {with_args("flow_run", {"where": where}): FLOW_RUN_VIEW_FIELDS}}
