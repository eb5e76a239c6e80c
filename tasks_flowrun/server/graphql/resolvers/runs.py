"""Mutations for flow runs, task runs and their states."""
import json
from typing import Any, Dict, List

from ...api import flow_runs, states, task_runs
from ...api.agents import touch_agent
from ...api.errors import ApiError
from ...api.recovery import DeployedAgain, RecoveryPolicy, recover_run
from ...api.vouching import vouch_for_runs
from ...storage.database import after_commit
from .base import field_name, mutation


def _create(conn, input: Dict[str, Any]) -> str:
    return flow_runs.create_flow_run(
        conn, flow_id=input.get("flow_id"), version_group_id=input.get("version_group_id"),
        flow_group_id=input.get("flow_group_id"), parameters=input.get("parameters"),
        context=input.get("context"), labels=input.get("labels"), run_config=input.get("run_config"),
        flow_run_name=input.get("flow_run_name"), scheduled_start_time=input.get("scheduled_start_time"),
        idempotency_key=input.get("idempotency_key"),
    )


@mutation
def create_flow_run_mutation(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": _create(conn, input)}


MAX_RUNS_PER_CREATE = 1_000  # runs one create_flow_runs makes: one transaction holds the writer that long


@mutation
def create_flow_runs(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    """Each run as `create_flow_run` makes it (a used idempotency key gives the first run's
    id), in one transaction: all are created, or none when one is refused."""
    runs = input["flow_runs"]
    if len(runs) > MAX_RUNS_PER_CREATE:
        raise ApiError(f"create_flow_runs takes at most {MAX_RUNS_PER_CREATE:,} runs per request, got "
                       f"{len(runs):,}: send them in several requests.")
    ids = []
    for index, run in enumerate(runs):
        try:
            ids.append(_create(conn, run))
        except ApiError as exc:
            raise ApiError(f"flow_runs[{index}]: {exc} No run of this request was created.", exc.code) from None
    return {"ids": ids}


@mutation
def get_runs_in_queue(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    agent_id = input.get("agent_id") or ctx.agent_id
    ids = flow_runs.get_runs_in_queue(conn, input.get("tenant_id") or ctx.tenant_id, input.get("before"),
                                      input.get("labels"))
    if agent_id:
        touch_agent(conn, agent_id)
    return {"flow_run_ids": ids}


MAX_STATE_JSON = 1_000_000  # characters of one state's JSON, Prefect Server's limit


def _check_sizes(states: List[Dict[str, Any]]) -> None:
    """Refuse the whole request when any state is too large, before anything is written (the
    size of its JSON, as Prefect Server measures it, whatever the payload holds)."""
    for item in states:
        if len(json.dumps(item["state"])) > MAX_STATE_JSON:
            raise ApiError("State payload is too large.")


@mutation
def set_flow_run_states(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    _check_sizes(input["states"])
    return {"states": [states.set_flow_run_state(conn, s["flow_run_id"], s["state"], agent_id=ctx.agent_id,
                                                 version=s.get("version"), locking=ctx.version_locking,
                                                 writer=ctx.writer)
                       for s in input["states"]]}


@mutation
def set_task_run_states(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    _check_sizes(input["states"])
    return {"states": [states.set_task_run_state(conn, s["task_run_id"], s["state"], version=s.get("version"),
                                                 locking=ctx.version_locking, writer=ctx.writer)
                       for s in input["states"]]}


@mutation
def get_or_create_task_run_info(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return task_runs.get_or_create_task_run_info(conn, input["flow_run_id"], input["task_id"],
                                                 input.get("map_index", -1))


@mutation
def get_or_create_task_run(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    """The id alone (Prefect Server's older form of get_or_create_task_run_info)."""
    info = task_runs.get_or_create_task_run_info(conn, input["flow_run_id"], input["task_id"],
                                                 input.get("map_index", -1))
    return {"id": info["id"]}


@mutation
def set_task_run_name(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": task_runs.set_task_run_name(conn, input["task_run_id"], input["name"]), "error": None}


@mutation
def set_flow_run_name(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": flow_runs.set_flow_run_name(conn, input["flow_run_id"], input["name"]), "error": None}


@mutation
def update_flow_run_heartbeat(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    flow_runs.update_heartbeat(conn, input["flow_run_id"])  # unknown ids are silently fine
    return {"success": True, "error": None}


@mutation
def update_task_run_heartbeat(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    task_runs.update_task_run_heartbeat(conn, input["task_run_id"])
    return {"success": True, "error": None}


@mutation
def cancel_flow_run(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"state": states.cancel_flow_run(conn, input["flow_run_id"])}


@mutation
def report_dead_flow_run(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    """`success` when the run was recovered (rescheduled, failed or cancelled); else `error`
    says why not. With `flow_run_version` (fenced), only if the deployment the agent saw die
    is still the run's current one."""
    policy = ctx.recovery_policy or RecoveryPolicy()
    reason = (input.get("reason") or "its process died")[:500]
    flow_run_id = str(input["flow_run_id"])
    try:
        outcome = recover_run(conn, flow_run_id, reason, policy, flow_run_version=input.get("flow_run_version"))
    except DeployedAgain as exc:
        return {"success": False, "error": str(exc)}
    if outcome is None:
        return {"success": False, "error": "the run is not Submitted, Running or Cancelling, or a task run "
                                           "waits on purpose: nothing to recover"}
    if ctx.polls is not None:
        after_commit(conn, lambda _db: ctx.polls.forget(flow_run_id))
    return {"success": True, "error": None}


@mutation
def report_live_flow_runs(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    """An agent vouches for its live flow processes (see api/vouching.py); `live` lists the
    runs it was taken at its word for."""
    return {"success": True, "live": vouch_for_runs(conn, input["flow_runs"], ctx.polls)}


@mutation
def delete_flow_run(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": flow_runs.delete_flow_run(conn, input["flow_run_id"]), "error": None}


@mutation
def set_flow_run_labels(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": flow_runs.set_flow_run_labels(conn, input["flow_run_id"], input["labels"]), "error": None}


RESOLVERS = {field_name(f): f for f in (
    set_flow_run_labels,
    create_flow_run_mutation, create_flow_runs, get_runs_in_queue, set_flow_run_states, set_task_run_states, get_or_create_task_run_info,
    get_or_create_task_run,
    set_task_run_name, set_flow_run_name, update_flow_run_heartbeat, update_task_run_heartbeat,
    cancel_flow_run, report_dead_flow_run, report_live_flow_runs, delete_flow_run,
)}
