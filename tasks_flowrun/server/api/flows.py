"""Flow registration: version groups, flow groups, tasks, edges, archiving."""
from typing import Any, Dict, List, Optional

from prefect.utilities.graphql import decompress
from sqlalchemy.engine import Connection

from ..storage.rows import fetch_row
from ..storage.reads import select_rows
from ..storage.flows import delete_flow_rows, mark_task_roles
from ..storage.runs import delete_flow_run_rows
from .errors import ApiError, NotFound
from .projects import get_project
from .records import insert, new_id, update
from .states import cancel_flow_run

# A new flow group's settings (version locking on: see locking.py).
GROUP_SETTINGS = {"heartbeat_enabled": True, "lazarus_enabled": True, "version_locking_enabled": True}


def decompress_flow(text: str) -> Dict[str, Any]:
    try:
        flow = decompress(text)
    except Exception:
        raise ApiError("Unable to decompress serialized flow.") from None
    if not isinstance(flow, dict):
        raise ApiError("Unable to decompress serialized flow: expected a JSON object.")
    return flow


def create_flow(
    conn: Connection,
    project_id: str,
    serialized_flow: Dict[str, Any],
    version_group_id: Optional[str] = None,
    set_schedule_active: bool = True,
    description: Optional[str] = None,
    idempotency_key: Optional[str] = None,
) -> str:
    """Register a new version of a flow (or return the current one for a repeated key)."""
    if not isinstance(serialized_flow, dict) or not serialized_flow.get("name"):
        raise ApiError("Invalid serialized flow: it needs at least a 'name'.")
    project = get_project(conn, project_id)
    name = serialized_flow["name"]
    if not version_group_id:
        previous = select_rows(
            conn, "flow", {"project_id": {"_eq": project["id"]}, "name": {"_eq": name}},
            order_by={"created": "desc"}, limit=1,
        )
        version_group_id = previous[0]["version_group_id"] if previous else new_id()
    group = fetch_row(conn, "flow_group", lock=True, name=version_group_id)  # versions are numbered in turn
    if group is None:
        group = insert(
            conn, "flow_group", tenant_id=project["tenant_id"], name=version_group_id,
            settings={**GROUP_SETTINGS, "idempotency_key": idempotency_key}, default_parameters={},
        )
    else:
        settings = dict(group["settings"] or {})
        if idempotency_key is not None and settings.get("idempotency_key") == idempotency_key:
            current = newest_unarchived(conn, {"flow_group_id": {"_eq": group["id"]}})
            if current is not None:
                return current["id"]
        settings["idempotency_key"] = idempotency_key
        update(conn, "flow_group", group["id"], settings=settings)

    versions = select_rows(conn, "flow", {"version_group_id": {"_eq": version_group_id}},
                           order_by={"version": "desc"}, limit=1)
    flow = insert(
        conn, "flow",
        tenant_id=project["tenant_id"], project_id=project["id"], flow_group_id=group["id"],
        version_group_id=version_group_id, version=(versions[0]["version"] + 1) if versions else 1,
        archived=False, name=name, description=description,
        core_version=serialized_flow.get("__version__"), serialized_flow=serialized_flow,
        storage=serialized_flow.get("storage"), run_config=serialized_flow.get("run_config"),
        environment=serialized_flow.get("environment"), parameters=serialized_flow.get("parameters") or [],
        schedule=serialized_flow.get("schedule"), settings={}, is_schedule_active=False,
    )
    register_tasks(conn, flow["id"], serialized_flow.get("tasks") or [], append_to_flow=False)
    register_edges(conn, flow["id"], serialized_flow.get("edges") or [])
    if set_schedule_active:
        try:
            _activate_schedule(conn, flow)
        except ApiError:
            pass  # as Prefect Server: the flow is registered, its schedule stays inactive
    for other in select_rows(conn, "flow", {"version_group_id": {"_eq": version_group_id},
                                           "archived": {"_eq": False}, "id": {"_neq": flow["id"]}}):
        archive_flow(conn, other["id"])
    return flow["id"]


def newest_unarchived(conn: Connection, where: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    rows = select_rows(conn, "flow", {**where, "archived": {"_eq": False}}, order_by={"version": "desc"}, limit=1)
    return rows[0] if rows else None


def get_flow(conn: Connection, flow_id: str, message: Optional[str] = None) -> Dict[str, Any]:
    flow = fetch_row(conn, "flow", id=str(flow_id))
    if flow is None:
        raise NotFound(message or f"Flow {flow_id} not found.")
    return flow


def register_tasks(conn: Connection, flow_id: str, tasks: List[Dict[str, Any]], append_to_flow: bool = True) -> bool:
    """Insert tasks by slug; slugs already registered for the flow are left as they are."""
    flow = get_flow(conn, flow_id)
    known = {r["slug"] for r in select_rows(conn, "task", {"flow_id": {"_eq": flow_id}})}
    added = []
    for task in tasks:
        if not isinstance(task, dict) or not task.get("slug"):
            raise ApiError("Invalid serialized task: each task needs a 'slug'.")
        if task["slug"] in known:
            continue
        known.add(task["slug"])
        added.append(task)
        trigger = task.get("trigger")
        insert(
            conn, "task", tenant_id=flow["tenant_id"], flow_id=flow_id, name=task.get("name"),
            slug=task["slug"], description=task.get("description"), type=task.get("type"),
            max_retries=task.get("max_retries"),
            retry_delay=str(task["retry_delay"]) if task.get("retry_delay") is not None else None,
            trigger=trigger.get("fn") if isinstance(trigger, dict) else trigger,
            tags=task.get("tags") or [], auto_generated=bool(task.get("auto_generated")),
            cache_key=task.get("cache_key"), mapped=bool(task.get("mapped")),
        )
    if append_to_flow and added:
        serialized = dict(flow["serialized_flow"] or {})
        serialized["tasks"] = list(serialized.get("tasks") or []) + added
        update(conn, "flow", flow_id, serialized_flow=serialized)
    _mark_roles(conn, flow)
    return True


def _mark_roles(conn: Connection, flow: Dict[str, Any]) -> None:
    references = (flow.get("serialized_flow") or {}).get("reference_tasks") or []
    mark_task_roles(conn, flow["id"], [r["slug"] for r in references if isinstance(r, dict) and r.get("slug")])


def register_edges(conn: Connection, flow_id: str, edges: List[Dict[str, Any]]) -> bool:
    """Insert edges between registered tasks; repeated edges are ignored."""
    flow = get_flow(conn, flow_id)
    ids = {r["slug"]: r["id"] for r in select_rows(conn, "task", {"flow_id": {"_eq": flow_id}})}
    seen = {(r["upstream_task_id"], r["downstream_task_id"]) for r in select_rows(conn, "edge", {"flow_id": {"_eq": flow_id}})}
    for edge in edges:
        try:
            up = ids[edge["upstream_task"]["slug"]]
            down = ids[edge["downstream_task"]["slug"]]
        except (KeyError, TypeError):
            raise ApiError(
                "Edges could not be registered - some edges reference tasks that do not exist within this flow."
            ) from None
        if (up, down) in seen:
            continue
        seen.add((up, down))
        insert(conn, "edge", tenant_id=flow["tenant_id"], flow_id=flow_id, upstream_task_id=up,
               downstream_task_id=down, key=edge.get("key"), mapped=bool(edge.get("mapped")),
               flattened=bool(edge.get("flattened")))
    _mark_roles(conn, flow)
    return True


def set_schedule_active(conn: Connection, flow_id: str) -> bool:
    """Turn a flow's schedule on; False for an unknown flow or one without any schedule (its
    own or its flow group's). Refused when the flow's clocks (with the group's default
    parameters) leave a required parameter without a value."""
    flow = fetch_row(conn, "flow", id=str(flow_id))
    return flow is not None and _activate_schedule(conn, flow)


def _activate_schedule(conn: Connection, flow: Dict[str, Any]) -> bool:
    group = fetch_row(conn, "flow_group", id=flow["flow_group_id"]) or {}
    required = {p.get("name") for p in flow["parameters"] or [] if p.get("required")}
    if flow["schedule"] is not None and required:
        missing = required - set(group.get("default_parameters") or {})
        clocks = (flow["schedule"] or {}).get("clocks") or []
        if not all(missing <= set((c.get("parameter_defaults") or {})) for c in clocks):
            raise ApiError("Can not schedule a flow that has required parameters.")
    if not (flow["schedule"] or group.get("schedule")):
        return False
    update(conn, "flow", flow["id"], is_schedule_active=True)
    return True


def set_schedule_inactive(conn: Connection, flow_id: str) -> bool:
    """Turn a flow's schedule off and delete its auto-scheduled runs that have not started;
    False for an unknown flow."""
    flow = fetch_row(conn, "flow", id=str(flow_id))
    if flow is None:
        return False
    update(conn, "flow", flow["id"], is_schedule_active=False)
    for run in select_rows(conn, "flow_run", {"flow_id": {"_eq": flow["id"]}, "state": {"_eq": "Scheduled"},
                                              "auto_scheduled": {"_eq": True}}):
        delete_flow_run_rows(conn, run["id"])
    return True


def archive_flow(conn: Connection, flow_id: str) -> bool:
    """Archive a flow: its scheduled auto runs are deleted and its scheduled ad-hoc runs
    cancelled; False for an unknown flow (as Prefect Server)."""
    flow = fetch_row(conn, "flow", id=str(flow_id))
    if flow is None:
        return False
    update(conn, "flow", flow_id, archived=True, is_schedule_active=False)
    for run in select_rows(conn, "flow_run", {"flow_id": {"_eq": flow_id}, "state": {"_eq": "Scheduled"}}):
        if run["auto_scheduled"]:
            delete_flow_run_rows(conn, run["id"])
        else:
            cancel_flow_run(conn, run["id"], message=f"Flow {flow['id']} was archived.")
    return True


def delete_flow(conn: Connection, flow_id: str) -> bool:
    """Delete a flow with its runs (their states, task runs, logs), tasks and edges; its
    flow group stays. False for an unknown flow."""
    if fetch_row(conn, "flow", id=str(flow_id)) is None:
        return False
    for run in select_rows(conn, "flow_run", {"flow_id": {"_eq": flow_id}}):
        delete_flow_run_rows(conn, run["id"])
    delete_flow_rows(conn, str(flow_id))
    return True


def update_flow_project(conn: Connection, flow_id: str, project_id: str) -> str:
    """Move a flow to another project of its tenant; an error for an unknown flow or project."""
    flow = fetch_row(conn, "flow", id=str(flow_id))
    project = fetch_row(conn, "project", id=str(project_id))
    if flow is None or project is None or project["tenant_id"] != flow["tenant_id"]:
        raise ApiError("Invalid flow or project ID.")
    update(conn, "flow", flow["id"], project_id=project["id"])
    return flow["id"]
