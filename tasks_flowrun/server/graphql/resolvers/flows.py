"""Mutations on registered flows, flow groups and projects after registration."""
from typing import Any, Dict

from ...api import flow_groups, flows, projects
from .base import mutation


def _ok(success: bool) -> Dict[str, Any]:
    return {"success": success, "error": None}


@mutation
def set_project_name(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": projects.set_project_name(conn, input["project_id"], input["name"])}


@mutation
def set_project_description(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": projects.set_project_description(conn, input["project_id"], input.get("description"))}


@mutation
def delete_flow(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return _ok(flows.delete_flow(conn, input["flow_id"]))


@mutation
def update_flow_project(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": flows.update_flow_project(conn, input["flow_id"], input["project_id"])}


@mutation
def enable_flow_heartbeat(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    flow_groups.update_setting(conn, input["flow_id"], disable_heartbeat=False, heartbeat_enabled=True)
    return _ok(True)


@mutation
def disable_flow_heartbeat(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    flow_groups.update_setting(conn, input["flow_id"], disable_heartbeat=True, heartbeat_enabled=False)
    return _ok(True)


@mutation
def enable_flow_lazarus_process(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    flow_groups.update_setting(conn, input["flow_id"], lazarus_enabled=True)
    return _ok(True)


@mutation
def disable_flow_lazarus_process(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    flow_groups.update_setting(conn, input["flow_id"], lazarus_enabled=False)
    return _ok(True)


@mutation
def enable_flow_version_lock(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    """Version locking on for the flow's group (all its versions): see api/locking.py."""
    flow_groups.update_setting(conn, input["flow_id"], version_locking_enabled=True)
    return _ok(True)


@mutation
def disable_flow_version_lock(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    flow_groups.update_setting(conn, input["flow_id"], version_locking_enabled=False)
    return _ok(True)


@mutation
def set_flow_group_labels(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return _ok(flow_groups.set_labels(conn, input["flow_group_id"], input.get("labels")))


@mutation
def set_flow_group_run_config(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return _ok(flow_groups.set_run_config(conn, input["flow_group_id"], input.get("run_config")))


@mutation
def set_flow_group_description(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return _ok(flow_groups.set_description(conn, input["flow_group_id"], input.get("description")))


@mutation
def set_flow_group_default_parameters(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return _ok(flow_groups.set_default_parameters(conn, input["flow_group_id"], input["parameters"]))


@mutation
def set_flow_group_schedule(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    clocks = flow_groups.clocks_from_input(input.get("cron_clocks"), input.get("interval_clocks"))
    return _ok(flow_groups.set_schedule(conn, input["flow_group_id"], clocks, input.get("timezone")))


@mutation
def delete_flow_group_schedule(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return _ok(flow_groups.delete_schedule(conn, input["flow_group_id"]))


@mutation
def delete_flow_group(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return _ok(flow_groups.delete_flow_group(conn, input["flow_group_id"]))


RESOLVERS = {f.__name__: f for f in (
    delete_flow_group,
    set_project_name, set_project_description, delete_flow, update_flow_project, enable_flow_heartbeat,
    disable_flow_heartbeat, enable_flow_lazarus_process, disable_flow_lazarus_process, enable_flow_version_lock,
    disable_flow_version_lock, set_flow_group_labels,
    set_flow_group_run_config, set_flow_group_description, set_flow_group_default_parameters,
    set_flow_group_schedule, delete_flow_group_schedule,
)}
