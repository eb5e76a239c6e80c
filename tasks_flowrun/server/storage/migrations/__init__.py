"""Schema versions: Alembic revisions in `versions/`, applied at startup through Alembic's
public commands (`alembic.command.stamp`/`upgrade` with a `Config` made here, no
alembic.ini; `env.py` runs them on the connection given). One history for both stores: a
revision that must differ per store asks `op.get_bind().dialect.name`.

`prepare_schema` brings a database to the newest revision:

- a new (empty) file gets every revision;
- a file with the tables but no version (made before versioning) is stamped with the
  first revision, which is exactly the schema it holds, then upgraded;
- an older file is copied to `<file>.bak-<its revision>` first, then upgraded in one
  transaction (SQLite's DDL is transactional: a failed upgrade leaves the file as it was);
- a file of a revision this code does not know (made by a newer release) is refused.

On PostgreSQL the same happens in one transaction (its DDL is transactional too) under an
advisory lock, so server processes starting together upgrade once; no copy is made (take a
`pg_dump` before upgrading a database you care about).

Adding a column = its definition in `tables.py` + one new file in `versions/`.
"""
import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
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
    backup: Optional[Path]  # None on PostgreSQL
    stamped: bool  # the file had no version (made before versioning)

    def describe(self) -> str:
        where = f"backup at {self.backup}" if self.backup is not None else "no copy made"
        return f"database upgraded from schema {self.from_revision} to {self.to_revision}, {where}"


FOLDER = Path(__file__).parent


def scripts() -> ScriptDirectory:
    return ScriptDirectory(str(FOLDER))


def _config(conn: Connection) -> Config:
    """Alembic's configuration for running the commands on `conn` (read by env.py)."""
    config = Config()
    config.set_main_option("script_location", str(FOLDER).replace("%", "%%"))
    config.attributes["connection"] = conn
    return config


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


MIGRATION_LOCK = 0x7461736B  # the advisory lock PostgreSQL processes upgrade under


def _begin(conn: Connection) -> None:
    """Start the upgrade transaction; one process at a time gets past this."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # one process upgrades; others wait, then see head
    else:
        conn.begin()
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def _end(conn: Connection, commit: bool) -> None:
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        if commit:
            conn.exec_driver_sql("COMMIT")
        elif raw is not None and raw.in_transaction:
            conn.exec_driver_sql("ROLLBACK")
    elif conn.in_transaction():
        (conn.commit if commit else conn.rollback)()


def prepare_schema(engine: Engine, path: Optional[Path]) -> Optional[SchemaUpgrade]:
    """Bring the database (a SQLite file at `path`, or PostgreSQL when `path` is None) to
    the head revision (see the module docstring); SchemaVersionError for a database of an
    unknown revision."""
    script = scripts()
    head = head_revision()
    where = f"The database {path}" if path is not None else f"The database {engine.url.database!r}"
    with engine.connect() as conn:
        _begin(conn)
        try:
            recorded = MigrationContext.configure(conn).get_current_revision()
            current = current_revision(conn)
            if current == head and recorded == head:
                _end(conn, commit=True)
                return None
            if current is not None and current not in {r.revision for r in script.walk_revisions()}:
                raise SchemaVersionError(
                    f"{where} has schema version {current}, made by a newer tasks-flowrun; "
                    f"this one knows schema versions up to {head}. Upgrade tasks-flowrun, or use another "
                    "--database.")
            upgrade = None
            if current is not None:
                backup = _backup(path, current) if path is not None else None
                upgrade = SchemaUpgrade(current, head, backup, stamped=recorded is None)
            config = _config(conn)
            if recorded is None and current is not None:
                command.stamp(config, current)
            with warnings.catch_warnings():
                # table rebuilds reflect the tables; the expression indexes they cannot
                # reflect are created again by a later revision (0004)
                warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
                command.upgrade(config, head)
        except BaseException:
            _end(conn, commit=False)
            raise
        _end(conn, commit=True)
    return upgrade
