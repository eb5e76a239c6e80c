"""Revision 0005: the `cloud_hook` and `message` tables, as in Prefect Server's schema
(notifications of flow run state changes, and the UI messages one kind of hook writes).

Written out here rather than taken from `tables.py`, so that later table changes never
change what this revision creates; the same statements serve both stores.
"""
import sqlalchemy as sa
from alembic import op

from tasks_flowrun.server.storage.tables import JSONText

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cloud_hook",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("states", JSONText(), nullable=True),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("config", JSONText(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version_group_id", sa.String(), nullable=True),
        sa.Column("created", sa.String(), nullable=False),
        sa.Column("updated", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_cloud_hook_tenant_id", "cloud_hook", ["tenant_id"], unique=False)
    op.create_index("ix_cloud_hook_version_group_id", "cloud_hook", ["version_group_id"], unique=False)
    op.create_table(
        "message",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column("type", sa.String(), nullable=True),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("content", JSONText(), nullable=False),
        sa.Column("created", sa.String(), nullable=False),
        sa.Column("updated", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_tenant_id", "message", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_tenant_id", table_name="message")
    op.drop_table("message")
    op.drop_index("ix_cloud_hook_version_group_id", table_name="cloud_hook")
    op.drop_index("ix_cloud_hook_tenant_id", table_name="cloud_hook")
    op.drop_table("cloud_hook")
