"""Per-request context handed to every resolver."""
from contextlib import ExitStack
from typing import Any, Dict, List, Mapping, Optional, Tuple

from sqlalchemy.engine import Connection

from ...writer_header import WRITER_HEADER
from ..api.liveness import RunnerPolls
from ..api.recovery import RecoveryPolicy
from ..settings import ServerSettings
from ..storage.database import Database
from ..storage.rows import interruptible
from .budget import UNLIMITED, Budget


DEFAULT_SETTINGS = ServerSettings(database=":memory:")  # what a context without settings reads (tests)


class RequestContext:
    """What a resolver may use: the database, the request's headers, one read connection,
    the request's time budget, the batches of rows fetched so far (see resolvers/tables.py),
    the backend's recovery policy (for runs reported dead), whether version locking is on
    for the whole backend (api/locking.py) and its settings."""

    def __init__(self, db: Database, tenant_id: str, headers: Mapping[str, str],
                 polls: Optional[RunnerPolls] = None, budget: Budget = UNLIMITED,
                 recovery_policy: Optional[RecoveryPolicy] = None, version_locking: bool = True,
                 settings: Optional[ServerSettings] = None) -> None:
        self.db = db
        self.settings = settings if settings is not None else DEFAULT_SETTINGS
        self.polls = polls
        self.recovery_policy = recovery_policy
        self.version_locking = version_locking
        self.tenant_id = tenant_id
        self.budget = budget
        self.agent_id: Optional[str] = headers.get("x-prefect-agent-id") or None
        self.core_version: Optional[str] = headers.get("x-prefect-core-version") or None
        # the sending flow process's own token (writer_header.py): its retries are told apart
        self.writer: Optional[str] = headers.get(WRITER_HEADER.lower()) or None
        # id(row) -> the list of rows fetched together with it (its siblings at its level)
        self.siblings: Dict[int, List[Dict[str, Any]]] = {}
        # (id(field node), id(sibling list)) -> (that list, rows of the field grouped by key)
        self.loaded: Dict[Tuple[int, int], Tuple[List[Dict[str, Any]], Dict[Any, Any]]] = {}
        self._stack = ExitStack()
        self._conn: Optional[Connection] = None

    @property
    def conn(self) -> Connection:
        """A read connection, opened on first use and closed with the request; its
        statements stop when the budget is spent."""
        if self._conn is None:
            conn = self._stack.enter_context(self.db.read())
            self._stack.enter_context(interruptible(conn, self.budget.stopped))
            self._conn = conn
        return self._conn

    def remember(self, rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Record `rows` as fetched together, so their relations load in one batch."""
        for row in rows:
            self.siblings[id(row)] = rows
        return rows

    def close(self) -> None:
        self._stack.close()
        self._conn = None

    def __enter__(self) -> "RequestContext":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
