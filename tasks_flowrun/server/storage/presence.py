"""The server processes sharing one database: each rewrites its `server_process` row every
second; the process leading the services reads them all (see services/peers.py).

Times are taken on the database's clock (seconds since the epoch), so processes on hosts
whose clocks disagree still compare silences correctly.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from .tables import server_process


def database_now(dialect: str) -> ColumnElement:
    """The database's current time in epoch seconds (not frozen at the transaction's start)."""
    if dialect == "postgresql":
        return sa.func.extract("epoch", sa.func.clock_timestamp())
    return (sa.func.julianday("now") - 2440587.5) * 86400.0


@dataclass(frozen=True)
class Peer:
    """What one server process last reported.

    Args:
        - id (str): the process's own id
        - host (str): its host name
        - pid (int): its process id
        - silent_for (float): seconds since it last reported
        - available_for (float, optional): seconds since it could last not hear flow runs
            (None: it cannot hear them now)
        - gap_reason (str, optional): why its last gap happened (or why it cannot hear now)
    """

    id: str
    host: str
    pid: int
    silent_for: float
    available_for: Optional[float]
    gap_reason: Optional[str]


def record_presence(conn: Connection, process_id: str, host: str, pid: int, available_for: Optional[float],
                    gap_reason: Optional[str]) -> None:
    """Insert or rewrite this process's row: seen now, able to hear flow runs for
    `available_for` seconds (None: not now)."""
    now = database_now(conn.dialect.name)
    since = None if available_for is None else now - sa.bindparam("available_for", available_for, sa.Float)
    values = {"id": process_id, "host": host, "pid": pid, "last_seen": now, "available_since": since,
              "gap_reason": gap_reason}
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(server_process).values(values)
    changed = {k: insert.excluded[k] for k in ("host", "pid", "last_seen", "available_since", "gap_reason")}
    conn.execute(insert.on_conflict_do_update(index_elements=["id"], set_=changed))


def peers(conn: Connection, own_id: str) -> List[Peer]:
    """Every other process's last report."""
    now = database_now(conn.dialect.name)
    query = sa.select(server_process.c.id, server_process.c.host, server_process.c.pid,
                      (now - server_process.c.last_seen).label("silent_for"),
                      (now - server_process.c.available_since).label("available_for"),
                      server_process.c.gap_reason).where(server_process.c.id != own_id)
    return [Peer(row.id, row.host or "?", row.pid or 0, float(row.silent_for),
                 None if row.available_for is None else float(row.available_for), row.gap_reason)
            for row in conn.execute(query)]


def drop_presence(conn: Connection, process_ids: Sequence[str]) -> None:
    """Forget processes (gone, or this one stopping)."""
    if process_ids:
        conn.execute(sa.delete(server_process).where(server_process.c.id.in_(list(process_ids))))
