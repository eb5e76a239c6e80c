"""No child under a cancelled or deleted parent.

A run created with `context.parent_flow_run_id` is a child of that run (the tasks record
it). If that parent is Cancelling or Cancelled, or was deleted, the child is refused
(`PARENT_CANCELLED`, `PARENT_DELETED`) and nothing is created: a late create task of a
cancelled parent would otherwise start work no one will wait for, and that no
cancellation reaches. An id the backend never knew (a parent run with `flow.run()`, no
backend) is no reason to refuse.

The parent's row is read with a share lock: its cancellation (which locks it, then cancels
the children it finds) waits for a create in progress, and a create waits for a
cancellation in progress, so every child is either refused or cancelled with its parent.
"""
from typing import Any, Optional

from sqlalchemy.engine import Connection

from ..storage.rows import fetch_row
from ..storage.runs import was_deleted
from .errors import ApiError
from .states import PARENT_FLOW_RUN_ID

CANCELLED_STATES = ("Cancelling", "Cancelled")


class ParentCancelled(ApiError):
    code = "PARENT_CANCELLED"


class ParentDeleted(ApiError):
    code = "PARENT_DELETED"


def check_parent(conn: Connection, context: Optional[Any]) -> None:
    """Refuse a child of a cancelled or deleted run (see the module docstring)."""
    parent_id = context.get(PARENT_FLOW_RUN_ID) if isinstance(context, dict) else None
    if not isinstance(parent_id, str) or not parent_id:
        return
    parent = fetch_row(conn, "flow_run", ("id", "name", "state"), lock="share", id=parent_id)
    if parent is None:
        if was_deleted(conn, parent_id):
            raise ParentDeleted(
                f"The parent flow run {parent_id} (context.parent_flow_run_id) was deleted: no child run is created "
                "under a deleted parent, and none was. Leave parent_flow_run_id out of the context to start an "
                "independent run.")
        return
    if parent["state"] in CANCELLED_STATES:
        raise ParentCancelled(
            f"The parent flow run {parent['name']!r} ({parent_id}, context.parent_flow_run_id) is {parent['state']}: "
            "no child run is created under a cancelled parent, and none was. Restart the parent to run its "
            "children again, or leave parent_flow_run_id out of the context to start an independent run.")
