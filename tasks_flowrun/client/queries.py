"""Every GraphQL document the plugin sends, in one place.

Documents are built as nested dicts with `prefect.utilities.graphql.with_args` /
`EnumValue`, exactly the dialect `prefect.Client.graphql` renders, so any Prefect 1 backend
that serves the stock client also serves these. They select only the fields the plugin
reads: a flow look-up never selects `serialized_flow`, a poll never selects parameters,
context or run config, and state history is selected only when states are streamed.

Per-call values (ids, names, keys, timestamps) travel as GraphQL variables, never in the
text, so each document's text is constant per shape: a backend that caches parsed and
validated documents by their text (ours does; parse + validate costs far more than
execute) parses each shape once. Variable types use the Hasura names that Prefect Server
and the embedded backend share (`uuid`, `timestamptz`, `<table>_bool_exp`).
"""
from typing import Any, Dict, Optional

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

LOG_FIELDS: Dict[str, Any] = {"id": True, "timestamp": True, "created": True, "level": True, "message": True}

CREATE_FLOW_RUN: Dict[str, Any] = {
    "mutation($input: create_flow_run_input!)": {"create_flow_run(input: $input)": {"id": True}}
}

# Many runs in one transaction: the embedded backend's own mutation (`bulk_create.py`).
CREATE_FLOW_RUNS: Dict[str, Any] = {
    "mutation($input: create_flow_runs_input!)": {"create_flow_runs(input: $input)": {"ids": True}}
}

# A run's state and its task runs' states, to restart it in place (`restart_in_place.py`). By
# `flow_run(where:)`, not `flow_run_by_pk`: a flow process polls its own run by primary
# key, and the embedded backend takes those polls as the process's proof of life.
RUN_FOR_RESTART: Dict[str, Any] = {
    "query($id: uuid!)": {
        with_args("flow_run", {"where": {"id": {"_eq": EnumValue("$id")}}}): {
            "id": True,
            "version": True,
            "state": True,
            "task_runs": {"id": True, "task_id": True, "state": True, "serialized_state": True},
            "flow": {"edges": {"upstream_task_id": True, "downstream_task_id": True}},
        }
    }
}

SET_TASK_RUN_STATES: Dict[str, Any] = {
    "mutation($input: set_task_run_states_input!)": {
        "set_task_run_states(input: $input)": {"states": {"id": True}}
    }
}

SET_FLOW_RUN_STATES: Dict[str, Any] = {
    "mutation($input: set_flow_run_states_input!)": {
        "set_flow_run_states(input: $input)": {"states": {"id": True}}
    }
}

# A flow run's newest states (how it came to run again: `restarts.RerunDetector`).
PARENT_STATES: Dict[str, Any] = {
    "query($id: uuid!, $limit: Int)": {
        with_args(
            "flow_run_state",
            {"where": {"flow_run_id": {"_eq": EnumValue("$id")}},
             "order_by": {EnumValue("timestamp"): EnumValue("desc")}, "limit": EnumValue("$limit")},
        ): {"state": True, "serialized_state": True}
    }
}

AGENTS: Dict[str, Any] = {
    "query": {"agent": {"id": True, "name": True, "labels": True, "last_queried": True}}
}


def _var(name: str) -> EnumValue:
    """A reference to the GraphQL variable `$name` (rendered unquoted)."""
    return EnumValue(f"${name}")


def flow_lookup(with_key: bool) -> Dict[str, Any]:
    """
    One request that finds the candidate flows, the tenant slugs (for run URLs) and, with
    a key, the runs of those flows already created with it.

    The text is constant: the filters travel as variables (`$where: flow_bool_exp`, and
    `$run_where: flow_run_bool_exp` when `with_key`), built by `lookup_variables`.

    Args:
        - with_key (bool): also select the runs matching `$run_where`

    Returns:
        - dict: the document, for `Client.graphql`
    """
    flows = with_args("flow", {"where": _var("where"), "order_by": {"version": EnumValue("desc")}})
    document: Dict[str, Any] = {flows: FLOW_FIELDS, "tenant": {"id": True, "slug": True}}
    if not with_key:
        return {"query($where: flow_bool_exp)": document}
    document[with_args("flow_run", {"where": _var("run_where")})] = {
        "id": True,
        "state": True,
        "flow": {"flow_group_id": True},
    }
    return {"query($where: flow_bool_exp, $run_where: flow_run_bool_exp)": document}


def lookup_variables(where: Dict[str, Any], idempotency_key: Optional[str] = None) -> Dict[str, Any]:
    """
    The variables of `flow_lookup(with_key=bool(idempotency_key))`.

    Args:
        - where (dict): a Hasura `where` clause on `flow`
        - idempotency_key (str, optional): select runs with this key whose flow matches
            `where`

    Returns:
        - dict: `where`, and `run_where` given a key
    """
    variables: Dict[str, Any] = {"where": where}
    if idempotency_key:
        variables["run_where"] = {"idempotency_key": {"_eq": idempotency_key}, "flow": where}
    return variables


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


def poll_flow_runs(with_logs: bool, logs_after: bool = False, logs_tail: Optional[int] = None) -> Dict[str, Any]:
    """
    One request reading many runs: what a wait acts on and returns (the `FlowRunView`
    fields, with the state history), their version and when their state was set, and
    optionally their logs.

    The text is constant per shape: the ids travel as `$ids: [uuid!]` and the log cut-off
    as `$after: timestamptz`.

    Args:
        - with_logs (bool): also select each run's logs (`id`, `timestamp`, `created`,
            `level`, `message`)
        - logs_after (bool, optional): with `with_logs`, only logs stored (`created`, the
            backend's time) strictly after `$after`, whatever their own timestamps: a line
            uploaded late is still found
        - logs_tail (int, optional): with `with_logs` and no `logs_after`, only the newest
            `logs_tail` logs of each run (newest first)

    Returns:
        - dict: the document, for `Client.graphql` (variables: `ids`, and `after`)
    """
    fields: Dict[str, Any] = {**FLOW_RUN_VIEW_FIELDS, "version": True, "state_timestamp": True}
    after = with_logs and logs_after
    if with_logs:
        log_args: Dict[str, Any] = {"order_by": {EnumValue("timestamp"): EnumValue("asc")}}
        if after:
            log_args["where"] = {"created": {"_gt": _var("after")}}
        elif logs_tail is not None:
            log_args = {"order_by": {EnumValue("timestamp"): EnumValue("desc")}, "limit": int(logs_tail)}
        fields[with_args("logs", log_args)] = LOG_FIELDS
    operation = "query($ids: [uuid!], $after: timestamptz)" if after else "query($ids: [uuid!])"
    return {operation: {with_args("flow_run", {"where": {"id": {"_in": _var("ids")}}}): fields}}


def flow_run_views() -> Dict[str, Any]:
    """
    One request reading what `FlowRunView` needs, for many runs (`$ids: [uuid!]`).

    Returns:
        - dict: the document, for `Client.graphql` (variables: `ids`)
    """
    where = {"id": {"_in": _var("ids")}}
    return {"query($ids: [uuid!])": {with_args("flow_run", {"where": where}): FLOW_RUN_VIEW_FIELDS}}
