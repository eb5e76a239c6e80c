"""Mutations of log lines, agents and task run artifacts."""
from typing import Any, Dict

from ...api import agents, logs, task_runs
from .base import mutation


@mutation
def write_run_logs(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": logs.write_run_logs(conn, input["logs"]), "error": None}


@mutation
def register_agent(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": agents.register_agent(
        conn, input.get("tenant_id") or ctx.tenant_id, input.get("name"), input.get("type"),
        input.get("labels"), ctx.core_version, input.get("agent_config_id"),
    )}


@mutation
def delete_agent(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": agents.delete_agent(conn, input["agent_id"]), "error": None}


@mutation
def create_task_run_artifact(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": task_runs.create_artifact(conn, input["task_run_id"], input["kind"], input["data"])}


@mutation
def update_task_run_artifact(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": task_runs.update_artifact(conn, input["task_run_artifact_id"], input["data"]), "error": None}


@mutation
def delete_task_run_artifact(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": task_runs.delete_artifact(conn, input["task_run_artifact_id"]), "error": None}


RESOLVERS = {f.__name__: f for f in (
    write_run_logs, register_agent, delete_agent, create_task_run_artifact, update_task_run_artifact, delete_task_run_artifact,
)}
