"""Configuration of the embedded backend: one object, built at the edge and passed down."""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union
import os

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200  # Prefect 1's default `server.endpoint` port


def default_database_path() -> Path:
    """The SQLite file under the user's Prefect home (`~/.prefect/`)."""
    home = os.environ.get("PREFECT__HOME_DIR") or os.path.join(os.path.expanduser("~"), ".prefect")
    return Path(home) / "tasks_flowrun.db"


@dataclass(frozen=True)
class ServerSettings:
    """Settings of one embedded backend instance.

    Args:
        - host (str): interface to bind; loopback by default
        - port (int): TCP port; 0 picks a free one
        - database (Path or str): a SQLite file (created if missing), or a
            `postgresql://user:pass@host:port/dbname` URL of an existing database
        - api_key (str, optional): when set, requests must send `Authorization: Bearer <key>`
        - max_request_bytes (int): requests with a larger body are refused
        - max_query_depth (int): GraphQL documents nested deeper are refused
        - heartbeat_timeout (float): seconds of silence after which a flow run's process
            is considered dead: its unfinished tasks are handed back and the run is
            rescheduled (Failed after `max_resurrections` reschedules)
        - max_resurrections (int): how many times one run is rescheduled after its
            process died before it is marked Failed
        - max_query_fields (int): GraphQL documents with more field selections (aliases
            and fragments counted) are refused
        - max_query_rows (int): GraphQL documents estimated to fetch more rows are refused
        - request_timeout (float): seconds of work one request may take before it is
            stopped (and its writes rolled back)
        - max_concurrent_requests (int): requests in flight past this get a 503
        - header_timeout (float): seconds a connection may take to send a request's headers
        - keep_alive_timeout (float): seconds an idle keep-alive connection stays open
        - cors_origins (tuple of str): browser origins (e.g. the Prefect UI's) granted CORS
            and allowed to POST without `Content-Type: application/json` (none by default)
        - insecure (bool): allow a non-loopback host without an API key
        - push_changes (bool): serve `POST /watch` (held requests answered when a watched
            run changes); without it, waits poll
        - version_locking (bool): refuse Running and Submitted states sent with a stale
            version (and a task run's second Running), for flow groups that keep it on
        - submitted_timeout (float): seconds of silence after which a Submitted run's
            agent is taken to have failed to start its process, and the run is recovered
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database: Union[Path, str] = None  # type: ignore[assignment]
    api_key: Optional[str] = None
    max_request_bytes: int = 16 * 1024 * 1024
    max_query_depth: int = 12
    heartbeat_timeout: float = 120.0
    max_resurrections: int = 3
    max_query_fields: int = 1_000
    max_query_rows: int = 200_000
    request_timeout: float = 10.0
    max_concurrent_requests: int = 64
    header_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    cors_origins: Tuple[str, ...] = ()
    insecure: bool = False
    push_changes: bool = True
    version_locking: bool = True
    submitted_timeout: float = 600.0

    def __post_init__(self) -> None:
        if self.database is None:
            object.__setattr__(self, "database", default_database_path())
        if not is_database_url(self.database):
            object.__setattr__(self, "database", Path(self.database).expanduser())


def is_database_url(target: object) -> bool:
    """Whether `--database` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))
