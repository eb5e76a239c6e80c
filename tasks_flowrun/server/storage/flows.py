"""Statements specific to registered flows."""
from typing import Sequence

from sqlalchemy.engine import Connection

from .rows import _cursor, delete_rows


def mark_task_roles(conn: Connection, flow_id: str, reference_slugs: Sequence[str]) -> None:
    """Set each task's `is_root_task` (no upstream edge), `is_terminal_task` (no downstream
    edge) and `is_reference_task` (named in `reference_slugs`, or terminal if none are)."""
    cursor = _cursor(conn)
    cursor.execute(
        "UPDATE task SET is_root_task = NOT EXISTS (SELECT 1 FROM edge WHERE edge.downstream_task_id = task.id), "
        "is_terminal_task = NOT EXISTS (SELECT 1 FROM edge WHERE edge.upstream_task_id = task.id) WHERE flow_id = ?",
        (flow_id,))
    slugs = list(dict.fromkeys(reference_slugs))
    if slugs:
        cursor.execute(f"UPDATE task SET is_reference_task = slug IN ({', '.join('?' * len(slugs))}) "
                       "WHERE flow_id = ?", (*slugs, flow_id))
    else:
        cursor.execute("UPDATE task SET is_reference_task = is_terminal_task WHERE flow_id = ?", (flow_id,))


def delete_flow_rows(conn: Connection, flow_id: str) -> None:
    """Delete a flow with its tasks and edges (its runs must be deleted first)."""
    for table in ("edge", "task"):
        delete_rows(conn, table, "flow_id", [flow_id])
    delete_rows(conn, "flow", "id", [flow_id])


def delete_flow_group_row(conn: Connection, flow_group_id: str) -> bool:
    return delete_rows(conn, "flow_group", "id", [flow_group_id]) > 0
