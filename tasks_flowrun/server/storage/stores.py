"""`open_database`: the store for a `--database` value (above database.py, whose `Database`
both stores implement)."""
from pathlib import Path
from typing import Optional, Union

from ..settings import is_database_url
from .database import Database
from .sqlite_store import SQLiteDatabase


def open_database(target: Union[str, Path], statement_timeout: Optional[float] = None,
                  sqlite_synchronous: str = "normal") -> Database:
    """The store for `target`: a `postgresql://user:pass@host:port/db` URL, or a SQLite file
    path (created if missing); its schema brought to the newest revision. On PostgreSQL
    `statement_timeout` (seconds) bounds every statement; on SQLite `sqlite_synchronous`
    ("normal" or "full") says whether each commit is also synced to disk."""
    if is_database_url(target):
        from .postgres_store import PostgresDatabase  # psycopg is an optional extra

        return PostgresDatabase(str(target), statement_timeout)
    return SQLiteDatabase(Path(target).expanduser(), sqlite_synchronous)
