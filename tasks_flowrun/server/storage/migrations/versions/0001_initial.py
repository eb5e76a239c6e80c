"""Revision 0001: the schema of the first release (tables, unique keys, indexes), frozen.

Written out here rather than taken from `tables.py`, so that later table changes never
change what this revision creates. A database made before versioning existed holds exactly
this schema and is stamped with this revision on first open.
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The expression indexes (and later-added indexes) the first release created at startup.
EXPRESSION_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_flow_run_parent ON flow_run (json_extract(context, '$.parent_flow_run_id'))",
    "CREATE INDEX IF NOT EXISTS ix_flow_run_created ON flow_run (created, id)",
    "CREATE INDEX IF NOT EXISTS ix_flow_run_idempotency ON flow_run (idempotency_key)",
    "CREATE INDEX IF NOT EXISTS ix_log_run_time ON log (flow_run_id, timestamp)",
)


def upgrade() -> None:
    op.create_table('agent',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=True),
    sa.Column('agent_config_id', sa.String(), nullable=True),
    sa.Column('name', sa.String(), nullable=True),
    sa.Column('type', sa.String(), nullable=True),
    sa.Column('core_version', sa.String(), nullable=True),
    sa.Column('labels', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('last_queried', sa.String(), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('edge',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=False),
    sa.Column('flow_id', sa.String(), nullable=False),
    sa.Column('upstream_task_id', sa.String(), nullable=False),
    sa.Column('downstream_task_id', sa.String(), nullable=False),
    sa.Column('key', sa.String(), nullable=True),
    sa.Column('mapped', sa.Boolean(), nullable=True),
    sa.Column('flattened', sa.Boolean(), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flow_id', 'downstream_task_id', 'upstream_task_id')
    )
    op.create_index(op.f('ix_edge_flow_id'), 'edge', ['flow_id'], unique=False)
    op.create_table('flow',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=False),
    sa.Column('project_id', sa.String(), nullable=False),
    sa.Column('flow_group_id', sa.String(), nullable=False),
    sa.Column('version_group_id', sa.String(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('core_version', sa.String(), nullable=True),
    sa.Column('serialized_flow', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('storage', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('run_config', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('environment', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('parameters', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('schedule', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('settings', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('is_schedule_active', sa.Boolean(), nullable=False),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_flow_flow_group_id'), 'flow', ['flow_group_id'], unique=False)
    op.create_index(op.f('ix_flow_name'), 'flow', ['name'], unique=False)
    op.create_index(op.f('ix_flow_project_id'), 'flow', ['project_id'], unique=False)
    op.create_index(op.f('ix_flow_version_group_id'), 'flow', ['version_group_id'], unique=False)
    op.create_table('flow_group',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('settings', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('default_parameters', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('labels', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('schedule', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('run_config', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('flow_run',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=False),
    sa.Column('flow_id', sa.String(), nullable=False),
    sa.Column('flow_group_id', sa.String(), nullable=False),
    sa.Column('agent_id', sa.String(), nullable=True),
    sa.Column('name', sa.String(), nullable=True),
    sa.Column('labels', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('parameters', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('context', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('run_config', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('idempotency_key', sa.String(), nullable=True),
    sa.Column('scheduled_start_time', sa.String(), nullable=False),
    sa.Column('auto_scheduled', sa.Boolean(), nullable=False),
    sa.Column('times_resurrected', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(), nullable=True),
    sa.Column('state_timestamp', sa.String(), nullable=True),
    sa.Column('state_message', sa.String(), nullable=True),
    sa.Column('state_result', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('state_start_time', sa.String(), nullable=True),
    sa.Column('serialized_state', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('heartbeat', sa.String(), nullable=True),
    sa.Column('start_time', sa.String(), nullable=True),
    sa.Column('end_time', sa.String(), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flow_group_id', 'idempotency_key', name='uq_flow_run_idempotency')
    )
    op.create_index(op.f('ix_flow_run_flow_id'), 'flow_run', ['flow_id'], unique=False)
    op.create_index('ix_flow_run_queue', 'flow_run', ['state', 'state_start_time'], unique=False)
    op.create_table('flow_run_state',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=True),
    sa.Column('flow_run_id', sa.String(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('timestamp', sa.String(), nullable=False),
    sa.Column('message', sa.String(), nullable=True),
    sa.Column('result', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('start_time', sa.String(), nullable=True),
    sa.Column('serialized_state', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_flow_run_state_flow_run_id'), 'flow_run_state', ['flow_run_id'], unique=False)
    op.create_table('log',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=True),
    sa.Column('flow_run_id', sa.String(), nullable=True),
    sa.Column('task_run_id', sa.String(), nullable=True),
    sa.Column('timestamp', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=True),
    sa.Column('level', sa.String(), nullable=True),
    sa.Column('message', sa.String(), nullable=True),
    sa.Column('info', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_log_flow_run_id'), 'log', ['flow_run_id'], unique=False)
    op.create_table('project',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name')
    )
    op.create_table('task',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=False),
    sa.Column('flow_id', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=True),
    sa.Column('slug', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('type', sa.String(), nullable=True),
    sa.Column('max_retries', sa.Integer(), nullable=True),
    sa.Column('retry_delay', sa.String(), nullable=True),
    sa.Column('trigger', sa.String(), nullable=True),
    sa.Column('tags', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('auto_generated', sa.Boolean(), nullable=True),
    sa.Column('cache_key', sa.String(), nullable=True),
    sa.Column('mapped', sa.Boolean(), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flow_id', 'slug')
    )
    op.create_table('task_run',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=False),
    sa.Column('flow_run_id', sa.String(), nullable=False),
    sa.Column('task_id', sa.String(), nullable=False),
    sa.Column('map_index', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(), nullable=True),
    sa.Column('cache_key', sa.String(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(), nullable=True),
    sa.Column('state_timestamp', sa.String(), nullable=True),
    sa.Column('state_message', sa.String(), nullable=True),
    sa.Column('state_result', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('state_start_time', sa.String(), nullable=True),
    sa.Column('serialized_state', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('heartbeat', sa.String(), nullable=True),
    sa.Column('start_time', sa.String(), nullable=True),
    sa.Column('end_time', sa.String(), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flow_run_id', 'task_id', 'map_index', name='uq_task_run_identity')
    )
    op.create_index(op.f('ix_task_run_task_id'), 'task_run', ['task_id'], unique=False)
    op.create_table('task_run_artifact',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=True),
    sa.Column('task_run_id', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=True),
    sa.Column('data', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_task_run_artifact_task_run_id'), 'task_run_artifact', ['task_run_id'], unique=False)
    op.create_table('task_run_state',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=True),
    sa.Column('task_run_id', sa.String(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('timestamp', sa.String(), nullable=False),
    sa.Column('message', sa.String(), nullable=True),
    sa.Column('result', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('start_time', sa.String(), nullable=True),
    sa.Column('serialized_state', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_task_run_state_task_run_id'), 'task_run_state', ['task_run_id'], unique=False)
    op.create_table('tenant',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('slug', sa.String(), nullable=False),
    sa.Column('settings', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('info', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created', sa.String(), nullable=False),
    sa.Column('updated', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    if op.get_bind().dialect.name == "sqlite":  # PostgreSQL gets its own spelling in 0004
        for statement in EXPRESSION_INDEXES:
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the first revision cannot be downgraded")
