"""The migrations on PostgreSQL: they build exactly the tables of `tables.py`, a second
start finds nothing to do, and a database of a newer release is refused."""
import warnings

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tasks_flowrun.server.storage.stores import open_database
from tasks_flowrun.server.storage.migrations import SchemaVersionError, head_revision
from tasks_flowrun.server.storage.tables import metadata
from tests import stores

# made by revision 0004 in SQL (one on an expression), unknown to tables.py
SQL_INDEXES = {"ix_flow_run_parent", "ix_flow_run_created", "ix_flow_run_idempotency", "ix_log_run_time"}


@pytest.fixture
def database(postgres_admin_url) -> str:
    return str(stores.fresh_database("migrations"))


def test_migrations_build_exactly_the_tables_of_tables_py_on_postgresql(database):
    db = open_database(database)
    try:
        with db.engine.connect() as conn, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # expression indexes cannot be reflected
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in diff if not (d[0] == "remove_index" and d[1].name in SQL_INDEXES)] == []
        with psycopg.connect(database) as conn:
            indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename IN "
                                                  "('flow_run', 'log')")}
            assert SQL_INDEXES <= indexes
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
    finally:
        db.dispose()
    again = open_database(database)
    try:
        assert again.schema_upgrade is None  # already at head: nothing to do
    finally:
        again.dispose()


def test_a_database_of_a_newer_release_is_refused_on_postgresql(database):
    open_database(database).dispose()
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaVersionError, match=f"schema version 9999.*up to {head_revision()}"):
        open_database(database)
