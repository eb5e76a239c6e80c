"""Revision 0006: what the backend needs to fence late processes and to tell its own
outages from dead runs.

- `deleted_flow_run`: the ids of deleted flow runs (a child naming one as its parent is
  refused);
- `server_process`: the server processes sharing the database, each reporting every
  second (PostgreSQL; see availability.py);
- an index for the scheduler's look for active schedules (it scanned every flow);
- version locking on for every existing flow group. Releases before this one wrote
  `version_locking_enabled: false` into every flow group they registered, but never
  enforced it and offered no way to change it: the value was a placeholder, never a
  choice, so it is replaced by the new default (a user turns it off per flow with
  `disable_flow_version_lock`, or for the whole backend with `--no-version-locking`).

Written out here rather than taken from `tables.py`, so that later table changes never
change what this revision creates; the same statements serve both stores.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deleted_flow_run",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("deleted", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "server_process",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("available_since", sa.Float(), nullable=True),
        sa.Column("gap_reason", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_flow_schedule", "flow", ["is_schedule_active", "archived"])
    _enable_version_locking()


def _enable_version_locking() -> None:
    conn = op.get_bind()
    groups = sa.table("flow_group", sa.column("id", sa.String), sa.column("settings", sa.Text))
    for group_id, text in conn.execute(sa.select(groups.c.id, groups.c.settings)).all():
        try:
            settings = json.loads(text) if text else {}
        except ValueError:
            continue  # not JSON (written by another tool): left as it is, read as no settings
        if not isinstance(settings, dict) or settings.get("version_locking_enabled") is True:
            continue
        settings["version_locking_enabled"] = True
        conn.execute(groups.update().where(groups.c.id == group_id).values(settings=json.dumps(settings)))


def downgrade() -> None:
    op.drop_table("server_process")
    op.drop_table("deleted_flow_run")
