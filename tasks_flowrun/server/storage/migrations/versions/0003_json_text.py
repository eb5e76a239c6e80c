"""Revision 0003: JSON columns declared `JSON_TEXT` (TEXT affinity) instead of `JSON`
(NUMERIC affinity), so a top-level JSON number is kept as the text written (`1.0` stays
`1.0`, big integers keep every digit). Each table is rebuilt (SQLite cannot change a
column's type in place); values already coerced to numbers are turned back into text.
"""
import sqlalchemy as sa
from alembic import op

from tasks_flowrun.server.storage.tables import JSONText

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON_COLUMNS = {
    "tenant": ("settings", "info"),
    "flow_group": ("settings", "default_parameters", "labels", "schedule", "run_config"),
    "flow": ("serialized_flow", "storage", "run_config", "environment", "parameters", "schedule", "settings"),
    "task": ("tags",),
    "flow_run": ("labels", "parameters", "context", "run_config", "state_result", "serialized_state"),
    "task_run": ("state_result", "serialized_state"),
    "flow_run_state": ("result", "serialized_state"),
    "task_run_state": ("result", "serialized_state"),
    "log": ("info",),
    "agent": ("labels",),
    "task_run_artifact": ("data",),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        # PostgreSQL (whose databases start empty before this revision): JSON to TEXT in place
        for table, columns in JSON_COLUMNS.items():
            for column in columns:
                op.alter_column(table, column, type_=JSONText(), existing_type=sa.JSON(),
                                postgresql_using=f"{column}::text")
        return
    for table, columns in JSON_COLUMNS.items():
        with op.batch_alter_table(table, recreate="always") as batch:
            for column in columns:
                batch.alter_column(column, type_=JSONText(none_as_null=True), existing_type=sa.JSON())
        for column in columns:
            op.execute(f"UPDATE {table} SET {column} = CAST({column} AS TEXT) "
                       f"WHERE typeof({column}) IN ('integer', 'real')")


def downgrade() -> None:
    raise NotImplementedError("going back to NUMERIC affinity would corrupt stored JSON numbers")
