"""Mutations for tenants, projects and flow registration."""
from typing import Any, Dict

from ...api import cascades, flows, projects, schedules
from .base import mutation


@mutation
def create_tenant(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": projects.create_tenant(conn, input["name"], input["slug"])}


@mutation
def create_project(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    tenant_id = input.get("tenant_id") or ctx.tenant_id
    return {"id": projects.create_project(conn, tenant_id, input["name"], input.get("description"))}


@mutation
def delete_project(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": cascades.delete_project(conn, input["project_id"]), "error": None}


def _create_flow(conn, input: Dict[str, Any], serialized: Dict[str, Any]) -> Dict[str, Any]:
    flow_id = flows.create_flow(
        conn, input["project_id"], serialized, version_group_id=input.get("version_group_id"),
        set_schedule_active=input.get("set_schedule_active", True) is not False,
        description=input.get("description"), idempotency_key=input.get("idempotency_key"),
    )
    schedules.schedule_flow_runs(conn, flow_id)  # nothing unless its schedule is active
    return {"id": flow_id}


@mutation
def create_flow_from_compressed_string(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return _create_flow(conn, input, flows.decompress_flow(input["serialized_flow"]))


@mutation
def create_flow(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return _create_flow(conn, input, input["serialized_flow"])


@mutation
def register_tasks(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": flows.register_tasks(conn, input["flow_id"], input["serialized_tasks"]), "error": None}


@mutation
def register_edges(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": flows.register_edges(conn, input["flow_id"], input["serialized_edges"]), "error": None}


@mutation
def set_schedule_active(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    success = flows.set_schedule_active(conn, input["flow_id"])
    schedules.schedule_flow_runs(conn, input["flow_id"])
    return {"success": success, "error": None}


@mutation
def set_schedule_inactive(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": flows.set_schedule_inactive(conn, input["flow_id"]), "error": None}


@mutation
def archive_flow(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": flows.archive_flow(conn, input["flow_id"]), "error": None}


RESOLVERS = {f.__name__: f for f in (
    create_tenant, create_project, delete_project, create_flow_from_compressed_string, create_flow,
    register_tasks, register_edges, set_schedule_active, set_schedule_inactive, archive_flow,
)}
