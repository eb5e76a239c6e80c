"""Revision 0007: `state_writer` on flow and task runs, the writer token of the process whose
Running state a run holds (see tasks_flowrun/writer_header.py): that process's own retry of
the state, after its answer was lost, is answered as done instead of refused by version
locking. Null for every existing run.

Written out here rather than taken from `tables.py`, so that later table changes never
change what this revision creates; the same statements serve both stores.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("flow_run", "task_run"):
        op.add_column(table, sa.Column("state_writer", sa.String(), nullable=True))


def downgrade() -> None:
    for table in ("flow_run", "task_run"):
        op.drop_column(table, "state_writer")
