"""Revision 0002: `task.is_root_task`, `is_terminal_task` and `is_reference_task`, as in
Prefect Server's schema, filled in for the tasks registered before.

A root task has no upstream edge, a terminal task no downstream edge; the reference tasks
are the flow's `reference_tasks` if it names any, else its terminal tasks.
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BACKFILL = (
    "UPDATE task SET"
    " is_root_task = NOT EXISTS (SELECT 1 FROM edge WHERE edge.downstream_task_id = task.id),"
    " is_terminal_task = NOT EXISTS (SELECT 1 FROM edge WHERE edge.upstream_task_id = task.id)",
    "UPDATE task SET is_reference_task = CASE"
    " WHEN (SELECT json_array_length(serialized_flow, '$.reference_tasks') FROM flow WHERE flow.id = task.flow_id) > 0"
    " THEN EXISTS (SELECT 1 FROM flow, json_each(flow.serialized_flow, '$.reference_tasks') AS ref"
    "  WHERE flow.id = task.flow_id AND json_extract(ref.value, '$.slug') = task.slug)"
    " ELSE is_terminal_task END",
)


def upgrade() -> None:
    for name in ("is_root_task", "is_terminal_task", "is_reference_task"):
        op.add_column("task", sa.Column(name, sa.Boolean(), nullable=True))
    # Only a SQLite file can hold tasks registered before this revision: PostgreSQL
    # databases start at a later revision, their tables empty when this runs.
    if op.get_bind().dialect.name == "sqlite":
        for statement in _BACKFILL:
            op.execute(statement)


def downgrade() -> None:
    for name in ("is_reference_task", "is_terminal_task", "is_root_task"):
        op.drop_column("task", name)
