"""Per-request context handed to every resolver."""
from contextlib import ExitStack
from typing import Any, Mapping, Optional

from sqlalchemy.engine import Connection

from ..api.liveness import RunnerPolls
from ..storage.database import Database


class RequestContext:
    """What a resolver may use: the database, the request's headers and one read connection."""

    def __init__(self, db: Database, tenant_id: str, headers: Mapping[str, str],
                 polls: Optional[RunnerPolls] = None) -> None:
        self.db = db
        self.polls = polls
        self.tenant_id = tenant_id
        self.agent_id: Optional[str] = headers.get("x-prefect-agent-id") or None
        self.core_version: Optional[str] = headers.get("x-prefect-core-version") or None
        self._stack = ExitStack()
        self._conn: Optional[Connection] = None

    @property
    def conn(self) -> Connection:
        """A read connection, opened on first use and closed with the request."""
        if self._conn is None:
            self._conn = self._stack.enter_context(self.db.read())
        return self._conn

    def close(self) -> None:
        self._stack.close()
        self._conn = None

    def __enter__(self) -> "RequestContext":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
