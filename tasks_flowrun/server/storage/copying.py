"""Copy every row of one database into another, empty one: moving a team from a SQLite
file to a shared PostgreSQL database (or back, for a local copy).

Both databases are first brought to the same schema revision. JSON columns are copied as
the text stored, so values come across byte for byte (`1.0` stays `1.0`). The copy is one
transaction on the target: it lands whole or not at all.
"""
from typing import Callable, Dict, Optional

import sqlalchemy as sa

from .database import Database
from .tables import TABLES, is_json, metadata

BATCH_ROWS = 2_000


class CopyRefused(RuntimeError):
    """The target holds data already (nothing was copied)."""


def _raw(table: sa.Table) -> sa.Table:
    """The table with JSON columns read and written as their stored text."""
    columns = [sa.Column(c.name, sa.Text if is_json(c) else c.type) for c in table.columns]
    return sa.Table(table.name, sa.MetaData(), *columns)


def _count(conn: sa.engine.Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def _snapshot(reader: sa.engine.Connection) -> None:
    """Read every table from one snapshot (a source still being written stays consistent)."""
    if reader.dialect.name == "sqlite":
        reader.exec_driver_sql("BEGIN")  # deferred: the first read fixes the snapshot
    else:
        reader.execution_options(isolation_level="REPEATABLE READ")
        reader.begin()


def copy_database(source: Database, target: Database,
                  progress: Optional[Callable[[str, int], None]] = None) -> Dict[str, int]:
    """Copy all rows of `source` into `target`; returns rows copied per table.

    CopyRefused if the target holds anything but the default tenant a server creates at
    its first start (that tenant is replaced by the source's).
    """
    # (not the server processes' presence rows: they describe the source's live processes)
    tables = [_raw(t) for t in metadata.sorted_tables if not t.info.get("transient")]
    copied: Dict[str, int] = {}
    with source.engine.connect() as reader, target.write() as writer:
        _snapshot(reader)
        occupied = [t.name for t in tables if t.name != "tenant" and _count(writer, t)]
        if occupied:
            raise CopyRefused(f"The target database is not empty (rows in {', '.join(occupied)}): copy into an "
                              "empty database, so that nothing in it is mixed with or overwritten by the copy.")
        writer.execute(sa.delete(TABLES["tenant"]))
        for table in tables:
            copied[table.name] = 0
            rows = reader.execution_options(stream_results=True).execute(sa.select(table))
            for batch in rows.mappings().partitions(BATCH_ROWS):
                writer.execute(table.insert(), [dict(row) for row in batch])
                copied[table.name] += len(batch)
            if progress is not None:
                progress(table.name, copied[table.name])
    return copied
