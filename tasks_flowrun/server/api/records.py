"""Small helpers shared by the domain functions: ids, timestamps, row inserts and updates."""
import uuid
from typing import Any, Dict

from sqlalchemy.engine import Connection

from ..storage.rows import insert_rows, update_row
from ..timestamps import clock


def new_id() -> str:
    return str(uuid.uuid4())


def insert(conn: Connection, table_name: str, **values: Any) -> Dict[str, Any]:
    """Insert one row (id and created/updated filled in unless given) and return its values."""
    now = clock.now_text()
    values.setdefault("id", new_id())
    values.setdefault("created", now)
    values.setdefault("updated", now)
    insert_rows(conn, table_name, [values])
    return values


def update(conn: Connection, table_name: str, row_id: str, **values: Any) -> int:
    """Update one row by id, bumping `updated`; returns the number of rows changed."""
    values.setdefault("updated", clock.now_text())
    return update_row(conn, table_name, row_id, values)
