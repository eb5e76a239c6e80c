"""Statements specific to registered flows."""
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .rows import delete_rows
from .tables import edge, task


def mark_task_roles(conn: Connection, flow_id: str, reference_slugs: Sequence[str]) -> None:
    """Set each task's `is_root_task` (no upstream edge), `is_terminal_task` (no downstream
    edge) and `is_reference_task` (named in `reference_slugs`, or terminal if none are)."""
    upstream = sa.exists().where(edge.c.downstream_task_id == task.c.id)
    downstream = sa.exists().where(edge.c.upstream_task_id == task.c.id)
    conn.execute(task.update().where(task.c.flow_id == flow_id)
                 .values(is_root_task=sa.not_(upstream), is_terminal_task=sa.not_(downstream)))
    slugs = list(dict.fromkeys(reference_slugs))
    reference = task.c.slug.in_(slugs) if slugs else task.c.is_terminal_task
    conn.execute(task.update().where(task.c.flow_id == flow_id).values(is_reference_task=reference))


def delete_flow_rows(conn: Connection, flow_id: str) -> None:
    """Delete a flow with its tasks and edges (its runs must be deleted first)."""
    for table in ("edge", "task"):
        delete_rows(conn, table, "flow_id", [flow_id])
    delete_rows(conn, "flow", "id", [flow_id])


def delete_flow_group_row(conn: Connection, flow_group_id: str) -> bool:
    return delete_rows(conn, "flow_group", "id", [flow_group_id]) > 0
