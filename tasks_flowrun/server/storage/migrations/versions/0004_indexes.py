"""Revision 0004: the indexes a table definition cannot express (an index on the parent
recorded inside a run's JSON context) and the ones added after the first release, in each
store's spelling; on PostgreSQL, a JSON cast that reads invalid JSON as NULL. Until this revision the server created them at every start; SQLite files
already have them (IF NOT EXISTS), and table rebuilds of earlier revisions get them back.
"""
from alembic import op

# A child's parent inside its JSON context, per store (frozen here: later code must keep
# spelling its look-ups this way to use the index; storage/jsonsql.key_text does).
PARENT_INDEX_EXPRESSION = {
    "sqlite": "json_extract(context, '$.parent_flow_run_id')",
    "postgresql": "((CAST(context AS JSONB) ->> 'parent_flow_run_id'))",
}

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def statements(dialect: str) -> tuple:
    return (
        # a run's children (cancel cascades, the web page's tree)
        f"CREATE INDEX IF NOT EXISTS ix_flow_run_parent ON flow_run ({PARENT_INDEX_EXPRESSION[dialect]})",
        # newest-first run lists page through this instead of sorting every run
        "CREATE INDEX IF NOT EXISTS ix_flow_run_created ON flow_run (created, id)",
        # a retry's or restart's look-up of the run made with its key: one row, however
        # many runs the child flow has
        "CREATE INDEX IF NOT EXISTS ix_flow_run_idempotency ON flow_run (idempotency_key)",
        # a wait's log tail: a run's newest lines without sorting all of them
        "CREATE INDEX IF NOT EXISTS ix_log_run_time ON log (flow_run_id, timestamp)",
    )


# PostgreSQL: JSON text as jsonb, or NULL when it is not valid JSON (a value written by
# another tool), so that one bad row never fails a query over many (the agent queue's
# label match). SQLite's equivalent is `CASE WHEN json_valid(x) THEN x END`. PARALLEL
# UNSAFE: catching an error needs a subtransaction, which a parallel query cannot start
# (a large table's plan would otherwise fail every agent's poll).
SAFE_JSONB = """
CREATE OR REPLACE FUNCTION tasks_flowrun_jsonb(value text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL UNSAFE AS $$
BEGIN
    RETURN value::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(SAFE_JSONB)
    for statement in statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    for name in ("ix_log_run_time", "ix_flow_run_idempotency", "ix_flow_run_created", "ix_flow_run_parent"):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tasks_flowrun_jsonb(text)")
