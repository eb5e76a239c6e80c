"""Schema versions: Alembic revisions in `versions/`, applied at startup (no alembic.ini).

`prepare_schema` brings a database file to the newest revision:

- a new (empty) file gets every revision;
- a file with the tables but no version (made before versioning) is stamped with the
  first revision, which is exactly the schema it holds, then upgraded;
- an older file is copied to `<file>.bak-<its revision>` first, then upgraded in one
  transaction (SQLite's DDL is transactional: a failed upgrade leaves the file as it was);
- a file of a revision this code does not know (made by a newer release) is refused.

Adding a column = its definition in `tables.py` + one new file in `versions/`.
"""
import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

FIRST_REVISION = "0001"
KNOWN_TABLE = "flow_run"  # a table every database of the first release has


class SchemaVersionError(RuntimeError):
    """The database's schema version is one this code cannot open."""


@dataclass(frozen=True)
class SchemaUpgrade:
    """What `prepare_schema` did to an existing file (None when there was nothing to do)."""

    from_revision: str
    to_revision: str
    backup: Path
    stamped: bool  # the file had no version (made before versioning)

    def describe(self) -> str:
        return (f"database upgraded from schema {self.from_revision} to {self.to_revision}, "
                f"backup at {self.backup}")


def scripts() -> ScriptDirectory:
    return ScriptDirectory(str(Path(__file__).parent))


def head_revision() -> str:
    head = scripts().get_current_head()
    if head is None:
        raise RuntimeError("the migrations have no head revision")
    return head


def current_revision(conn: Connection) -> Optional[str]:
    """The file's recorded revision; FIRST_REVISION for an unversioned file with tables."""
    recorded = MigrationContext.configure(conn).get_current_revision()
    if recorded is None and sa.inspect(conn).has_table(KNOWN_TABLE):
        return FIRST_REVISION
    return recorded


def _backup(path: Path, revision: str) -> Path:
    """A consistent copy of the file (SQLite's backup API: WAL content included)."""
    target = path.with_name(f"{path.name}.bak-{revision}")
    source = sqlite3.connect(str(path))
    try:
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    return target


def prepare_schema(engine: Engine, path: Path) -> Optional[SchemaUpgrade]:
    """Bring the file to the head revision (see the module docstring); SchemaVersionError
    for a file of an unknown revision."""
    script = scripts()
    head = head_revision()
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # one process upgrades; others wait, then see head
        try:
            recorded = MigrationContext.configure(conn).get_current_revision()
            current = current_revision(conn)
            if current == head and recorded == head:
                conn.exec_driver_sql("COMMIT")
                return None
            if current is not None and current not in {r.revision for r in script.walk_revisions()}:
                raise SchemaVersionError(
                    f"The database {path} has schema version {current}, made by a newer tasks-flowrun; "
                    f"this one knows schema versions up to {head}. Upgrade tasks-flowrun, or use another "
                    "--database file.")
            upgrade = None
            if current is not None:
                upgrade = SchemaUpgrade(current, head, _backup(path, current), stamped=recorded is None)

            def steps(revision, _context):
                return script._upgrade_revs(head, revision)

            context = MigrationContext.configure(conn, opts={"script": script, "fn": steps})
            if recorded is None and current is not None:
                context.stamp(script, current)
            with Operations.context(context), warnings.catch_warnings():
                # table rebuilds reflect the tables; the expression indexes they cannot
                # reflect are created again after the migration (storage/database.py)
                warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
                context.run_migrations()
        except BaseException:
            raw = conn.connection.driver_connection
            if raw is not None and raw.in_transaction:
                conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")
    return upgrade
