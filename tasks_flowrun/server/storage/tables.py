"""The backend's tables (SQLAlchemy Core), shaped like Prefect Server's schema.

Timestamps are TEXT in the fixed UTC form of `timestamps.py`; JSON columns hold JSON text.
Every change here needs a revision in `migrations/versions/` (a test compares the two).
"""
import json
from typing import Any, List, Optional

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import base as sqlite_base
from sqlalchemy.ext.compiler import compiles

from .jsontext import loads_stored

metadata = sa.MetaData()


class _JSONStorage(sa.Text):
    """The column type JSON text is stored in: `JSON_TEXT` on SQLite (TEXT affinity: a column
    declared `JSON` has NUMERIC affinity, which turns a top-level `1.0` into the integer 1 and
    rounds big integers), `TEXT` elsewhere (PostgreSQL keeps text as written)."""


@compiles(_JSONStorage, "sqlite")
def _json_text_ddl(_type: _JSONStorage, _compiler: object, **_kw: object) -> str:
    return "JSON_TEXT"


@compiles(_JSONStorage)
def _json_text_ddl_default(_type: _JSONStorage, _compiler: object, **_kw: object) -> str:
    return "TEXT"


class JSONText(sa.types.TypeDecorator):
    """A JSON value stored as the JSON text written, the same on every store: encoded with
    `json.dumps`, decoded with `loads_stored` (a bad stored value reads as null, never fails
    a request). None is SQL NULL."""

    impl = _JSONStorage
    cache_ok = True

    def __init__(self, none_as_null: bool = True) -> None:  # the argument of the type it replaced
        super().__init__()

    def process_bind_param(self, value: Any, dialect: Any) -> Optional[str]:
        return None if value is None else json.dumps(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else loads_stored(value)

    def copy(self, **_kw: Any) -> "JSONText":
        return JSONText()


sqlite_base.ischema_names["JSON_TEXT"] = JSONText  # reflection (migrations) reads it back


def is_json(column: sa.Column) -> bool:
    """Whether the column holds JSON (typed `jsonb` in the GraphQL schema)."""
    return isinstance(column.type, JSONText)


JSON = JSONText(none_as_null=True)


def uuid_column(name: str, *args: object, **kwargs: object) -> sa.Column:
    """A column holding a UUID (as text): typed `uuid` in the GraphQL schema."""
    return sa.Column(name, sa.String, *args, info={"graphql": "uuid"}, **kwargs)  # type: ignore[arg-type]


def time_column(name: str, *args: object, **kwargs: object) -> sa.Column:
    """A column holding an instant (UTC text, see timestamps.py): typed `timestamptz` in GraphQL."""
    return sa.Column(name, sa.String, *args, info={"graphql": "timestamptz"}, **kwargs)  # type: ignore[arg-type]


def _id() -> sa.Column:
    return uuid_column("id", primary_key=True)


def _stamps() -> list:
    return [time_column("created", nullable=False), time_column("updated", nullable=False)]


def _state_columns() -> list:
    """Columns a run derives from its latest state (see api/states.py)."""
    return [
        sa.Column("version", sa.Integer, nullable=False, default=0),
        sa.Column("state", sa.String),
        time_column("state_timestamp"),
        sa.Column("state_message", sa.String),
        sa.Column("state_result", JSON),
        time_column("state_start_time"),
        sa.Column("serialized_state", JSON),
        time_column("heartbeat"),
        time_column("start_time"),
        time_column("end_time"),
        # the writer token (writer_header.py) of the process whose Running state this is: its own
        # retry of that state is answered as done (api/locking.py); not in the GraphQL API
        sa.Column("state_writer", sa.String, info={"internal": True}),
    ]


tenant = sa.Table(
    "tenant", metadata, _id(),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("slug", sa.String, nullable=False, unique=True),
    sa.Column("settings", JSON),
    sa.Column("info", JSON),
    *_stamps(),
)

project = sa.Table(
    "project", metadata, _id(),
    uuid_column("tenant_id", nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("description", sa.String),
    *_stamps(),
    sa.UniqueConstraint("tenant_id", "name"),
)

flow_group = sa.Table(
    "flow_group", metadata, _id(),
    uuid_column("tenant_id", nullable=False),
    sa.Column("name", sa.String, nullable=False, unique=True),
    sa.Column("description", sa.String),
    sa.Column("settings", JSON),
    sa.Column("default_parameters", JSON),
    sa.Column("labels", JSON),
    sa.Column("schedule", JSON),
    sa.Column("run_config", JSON),
    *_stamps(),
)

flow = sa.Table(
    "flow", metadata, _id(),
    uuid_column("tenant_id", nullable=False),
    uuid_column("project_id", nullable=False, index=True),
    uuid_column("flow_group_id", nullable=False, index=True),
    sa.Column("version_group_id", sa.String, nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, default=False),
    sa.Column("name", sa.String, nullable=False, index=True),
    sa.Column("description", sa.String),
    sa.Column("core_version", sa.String),
    sa.Column("serialized_flow", JSON),
    sa.Column("storage", JSON),
    sa.Column("run_config", JSON),
    sa.Column("environment", JSON),
    sa.Column("parameters", JSON),
    sa.Column("schedule", JSON),
    sa.Column("settings", JSON),
    sa.Column("is_schedule_active", sa.Boolean, nullable=False, default=False),
    *_stamps(),
    # the scheduler's look for active schedules, every minute (added by revision 0006)
    sa.Index("ix_flow_schedule", "is_schedule_active", "archived"),
)

task = sa.Table(
    "task", metadata, _id(),
    uuid_column("tenant_id", nullable=False),
    uuid_column("flow_id", nullable=False),
    sa.Column("name", sa.String),
    sa.Column("slug", sa.String, nullable=False),
    sa.Column("description", sa.String),
    sa.Column("type", sa.String),
    sa.Column("max_retries", sa.Integer),
    sa.Column("retry_delay", sa.String),
    sa.Column("trigger", sa.String),
    sa.Column("tags", JSON),
    sa.Column("auto_generated", sa.Boolean),
    sa.Column("cache_key", sa.String),
    sa.Column("mapped", sa.Boolean),
    *_stamps(),
    sa.UniqueConstraint("flow_id", "slug"),
    # added by revision 0002 (columns added later go last: ALTER TABLE appends them)
    sa.Column("is_root_task", sa.Boolean),
    sa.Column("is_terminal_task", sa.Boolean),
    sa.Column("is_reference_task", sa.Boolean),
)

edge = sa.Table(
    "edge", metadata, _id(),
    uuid_column("tenant_id", nullable=False),
    uuid_column("flow_id", nullable=False, index=True),
    uuid_column("upstream_task_id", nullable=False),
    uuid_column("downstream_task_id", nullable=False),
    sa.Column("key", sa.String),
    sa.Column("mapped", sa.Boolean),
    sa.Column("flattened", sa.Boolean),
    *_stamps(),
    sa.UniqueConstraint("flow_id", "downstream_task_id", "upstream_task_id"),
)

flow_run = sa.Table(
    "flow_run", metadata, _id(),
    uuid_column("tenant_id", nullable=False),
    uuid_column("flow_id", nullable=False, index=True),
    # Idempotency keys are scoped per flow group, so a key survives re-registration of the child.
    uuid_column("flow_group_id", nullable=False),
    uuid_column("agent_id"),
    sa.Column("name", sa.String),
    sa.Column("labels", JSON),
    sa.Column("parameters", JSON),
    sa.Column("context", JSON),
    sa.Column("run_config", JSON),
    sa.Column("idempotency_key", sa.String),
    time_column("scheduled_start_time", nullable=False),
    sa.Column("auto_scheduled", sa.Boolean, nullable=False, default=False),
    sa.Column("times_resurrected", sa.Integer, nullable=False, default=0),
    *_state_columns(),
    *_stamps(),
    sa.UniqueConstraint("flow_group_id", "idempotency_key", name="uq_flow_run_idempotency"),
    sa.Index("ix_flow_run_queue", "state", "state_start_time"),
)

task_run = sa.Table(
    "task_run", metadata, _id(),
    uuid_column("tenant_id", nullable=False),
    uuid_column("flow_run_id", nullable=False),
    uuid_column("task_id", nullable=False, index=True),
    sa.Column("map_index", sa.Integer, nullable=False, default=-1),
    sa.Column("name", sa.String),
    sa.Column("cache_key", sa.String),
    *_state_columns(),
    *_stamps(),
    sa.UniqueConstraint("flow_run_id", "task_id", "map_index", name="uq_task_run_identity"),
)


def _state_table(name: str, run_column: str) -> sa.Table:
    return sa.Table(
        name, metadata, _id(),
        uuid_column("tenant_id"),
        uuid_column(run_column, nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        time_column("timestamp", nullable=False),
        sa.Column("message", sa.String),
        sa.Column("result", JSON),
        time_column("start_time"),
        sa.Column("serialized_state", JSON, nullable=False),
        *_stamps(),
    )


flow_run_state = _state_table("flow_run_state", "flow_run_id")
task_run_state = _state_table("task_run_state", "task_run_id")

log = sa.Table(
    "log", metadata, _id(),
    uuid_column("tenant_id"),
    uuid_column("flow_run_id", index=True),
    uuid_column("task_run_id"),
    time_column("timestamp", nullable=False),
    sa.Column("name", sa.String),
    sa.Column("level", sa.String),
    sa.Column("message", sa.String),
    sa.Column("info", JSON),
    *_stamps(),
)

agent = sa.Table(
    "agent", metadata, _id(),
    uuid_column("tenant_id"),
    uuid_column("agent_config_id"),
    sa.Column("name", sa.String),
    sa.Column("type", sa.String),
    sa.Column("core_version", sa.String),
    sa.Column("labels", JSON),
    time_column("last_queried"),
    *_stamps(),
)

task_run_artifact = sa.Table(
    "task_run_artifact", metadata, _id(),
    uuid_column("tenant_id"),
    uuid_column("task_run_id", nullable=False, index=True),
    sa.Column("kind", sa.String),
    sa.Column("data", JSON),
    *_stamps(),
)

# Added by revision 0005. Notifications of flow run state changes (api/cloud_hooks.py):
# `states` is the list of upper-case state names a hook answers, `version_group_id` the
# flow versions it is limited to (NULL: every flow).
cloud_hook = sa.Table(
    "cloud_hook", metadata, _id(),
    uuid_column("tenant_id", index=True),
    sa.Column("name", sa.String),
    sa.Column("states", JSON),
    sa.Column("type", sa.String, nullable=False),
    sa.Column("config", JSON, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("version_group_id", sa.String, index=True),
    *_stamps(),
)

# Added by revision 0005. The Prefect UI's notifications, written by PREFECT_MESSAGE hooks.
message = sa.Table(
    "message", metadata, _id(),
    uuid_column("tenant_id", nullable=False, index=True),
    sa.Column("read", sa.Boolean, nullable=False, default=False),
    sa.Column("type", sa.String),
    sa.Column("text", sa.String),
    sa.Column("content", JSON, nullable=False),
    *_stamps(),
)

# Added by revision 0006. The ids of deleted flow runs, so that a child naming a deleted run
# as its parent is refused (api/parents.py) rather than created under a run that is gone.
deleted_flow_run = sa.Table(
    "deleted_flow_run", metadata,
    uuid_column("id", primary_key=True),
    time_column("deleted", nullable=False),
    info={"internal": True},
)

# Added by revision 0006. The server processes sharing the database (PostgreSQL), each
# rewriting its row every second: when (on the database's clock, epoch seconds) it last
# reported, and since when it could hear flow runs (NULL: it cannot now; see
# availability.py). The process leading the services pauses recovery while one is silent.
server_process = sa.Table(
    "server_process", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("host", sa.String),
    sa.Column("pid", sa.Integer),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("available_since", sa.Float),
    sa.Column("gap_reason", sa.String),
    info={"internal": True, "transient": True},
)

TABLES = {t.name: t for t in metadata.sorted_tables}
# The tables the GraphQL API serves (internal bookkeeping tables stay out of it).
API_TABLES = {name: t for name, t in TABLES.items() if not t.info.get("internal")}


def api_columns(table: sa.Table) -> List[sa.Column]:
    """The columns of `table` the API shows (not those marked `info={"internal": True}`)."""
    return [c for c in table.columns if not c.info.get("internal")]
