"""Cloud hooks and the messages they write (api/cloud_hooks.py, api/messages.py)."""
from typing import Any, Dict

from ...api import cloud_hooks, messages
from ...services.cloud_hook_delivery import send_hook
from .base import mutation


@mutation
def create_cloud_hook(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": cloud_hooks.create_cloud_hook(
        conn, input["tenant_id"], input["type"], input["states"], config=input.get("config"),
        version_group_id=input.get("version_group_id"), name=input.get("name"),
    )}


@mutation
def delete_cloud_hook(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": cloud_hooks.delete_cloud_hook(conn, input["cloud_hook_id"]), "error": None}


@mutation
def set_cloud_hook_active(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": cloud_hooks.set_cloud_hook_active(conn, input["cloud_hook_id"]), "error": None}


@mutation
def set_cloud_hook_inactive(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": cloud_hooks.set_cloud_hook_inactive(conn, input["cloud_hook_id"]), "error": None}


def test_cloud_hook(_root: Any, info: Any, input: Dict[str, Any]) -> Dict[str, Any]:
    """Not one write transaction: the hook is called (over HTTP, by the delivery service's
    `send_hook`) outside any. As on Prefect Server, whatever goes wrong is the payload's
    error, never a GraphQL error."""
    ctx = info.context
    ctx.budget.check()
    try:
        hook, event = cloud_hooks.test_event(ctx.db, input["cloud_hook_id"], input.get("flow_run_id"),
                                             input.get("state_type"))
        send_hook(ctx.db, hook, event, ctx.settings.link_base)
    except Exception as exc:
        return {"success": False, "error": str(exc)}
    return {"success": True, "error": None}


@mutation
def mark_message_as_read(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": messages.mark_message_as_read(conn, input["message_id"]), "error": None}


@mutation
def mark_message_as_unread(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": messages.mark_message_as_unread(conn, input["message_id"]), "error": None}


@mutation
def delete_message(conn, ctx, input: Dict[str, Any]) -> Dict[str, Any]:
    return {"success": messages.delete_message(conn, input["message_id"]), "error": None}


RESOLVERS = {f.__name__: f for f in (
    create_cloud_hook, delete_cloud_hook, set_cloud_hook_active, set_cloud_hook_inactive, test_cloud_hook,
    mark_message_as_read, mark_message_as_unread, delete_message,
)}
