"""Messages: the Prefect UI's notifications, written by PREFECT_MESSAGE cloud hooks
(api/cloud_hooks.py), as on Prefect Server."""
from typing import Any, Dict, Optional

from sqlalchemy.engine import Connection

from ..storage.rows import delete_rows
from .errors import ApiError
from .records import insert, update

MESSAGE_TYPES = ("CLOUD_HOOK", "REQUIRES_APPROVAL")


def create_message(conn: Connection, tenant_id: str, type: str, content: Dict[str, Any],
                   text: Optional[str] = None) -> str:
    """A new unread message; its id."""
    if type not in MESSAGE_TYPES:
        raise ApiError("Invalid message type.")
    if not tenant_id:
        raise ApiError("Invalid tenant ID.")
    return insert(conn, "message", tenant_id=str(tenant_id), type=type, text=text, content=content, read=False)["id"]


def _message_id(message_id: Any) -> str:
    if not message_id:
        raise ApiError("Invalid message ID.")
    return str(message_id)


def mark_message_as_read(conn: Connection, message_id: str) -> bool:
    """False for an unknown message (Server's answer when no row matched)."""
    return update(conn, "message", _message_id(message_id), read=True) > 0


def mark_message_as_unread(conn: Connection, message_id: str) -> bool:
    return update(conn, "message", _message_id(message_id), read=False) > 0


def delete_message(conn: Connection, message_id: str) -> bool:
    return delete_rows(conn, "message", "id", [_message_id(message_id)]) > 0
