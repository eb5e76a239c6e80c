"""Configuration of the embedded backend: one object, built at the edge and passed down.

`ServerSettings` holds the values (its field defaults are the defaults); `SERVER_OPTIONS`
says where each may come from besides a flag (see `tasks_flowrun/config.py`: flag, then
`TASKS_FLOWRUN_<NAME>`, then Prefect's own configuration where Prefect has the setting, then
the default); `resolve_server_settings` does it for `tasks-flowrun server` and `config`.
Adding an option: a field here, an `Option` in `SERVER_OPTIONS`, a flag (default None) in
`tasks_flowrun/cli.py`.
"""
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ..config import (ConfigError, Option, PrefectConfig, Setting, boolean, http_url, log_level, non_negative_int,
                      origins, port, positive_seconds, prefect_key, resolve, sqlite_synchronous,
                      url_host)
from ..net import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200  # Prefect 1's default `server.endpoint` port
DATABASE_FILE = "tasks_flowrun.db"


def default_database_path(home_dir: Optional[str] = None) -> Path:
    """The SQLite file under the user's Prefect home (Prefect's `home_dir`, `~/.prefect/`)."""
    if home_dir is None:
        import prefect

        home_dir = prefect.config.home_dir
    return Path(str(home_dir)).expanduser() / DATABASE_FILE


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
        - sqlite_synchronous (str): "normal" (a commit survives any crash of the server
            process; an OS crash or power cut may lose the last ones) or "full" (each commit
            is synced to disk first: survives power loss, about 1 ms more per write)
        - log_level (str): level of the backend's log (DEBUG, INFO, WARNING, ERROR, CRITICAL)
        - access_log (bool): log one line per HTTP request
        - ui_url (str, optional): where run links in cloud hook messages point (Prefect's
            `server.ui.endpoint`); None: this backend's own web page
        - api_server_version, api_core_version, api_release_timestamp (str, optional): what
            the `api` query answers instead of this release's versions (Prefect Server's
            `PREFECT_SERVER_VERSION`, `PREFECT_CORE_VERSION`, `RELEASE_TIMESTAMP`)
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
    sqlite_synchronous: str = "normal"
    log_level: str = "INFO"
    access_log: bool = False
    ui_url: Optional[str] = None
    api_server_version: Optional[str] = None
    api_core_version: Optional[str] = None
    api_release_timestamp: Optional[str] = None

    def __post_init__(self) -> None:
        if self.database is None:
            object.__setattr__(self, "database", default_database_path())
        if not is_database_url(self.database):
            object.__setattr__(self, "database", Path(self.database).expanduser())

    @property
    def url(self) -> str:
        """Where this backend answers (its host as configured, `[...]` around IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def link_base(self) -> str:
        """The start of run links in hook messages: `ui_url`, else this backend's web page."""
        if self.ui_url:
            return self.ui_url.rstrip("/")
        if self.host in ("0.0.0.0", "::", ""):  # every interface: name the machine instead
            import socket

            return f"http://{socket.getfqdn()}:{self.port}"
        return self.url


def is_database_url(target: object) -> bool:
    """Whether `--database` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def database_target(text: str) -> Union[Path, str]:
    """`--database`: a postgresql:// URL as given, anything else a SQLite file path."""
    if not text.strip():
        raise ValueError("expected a SQLite file path or a postgresql:// URL")
    return text if is_database_url(text) else Path(text).expanduser()


def _database_under_prefect_home(config: PrefectConfig) -> Optional[Setting]:
    home = config.get("home_dir")
    if home is None:
        return None
    return Setting(default_database_path(str(home.value)), f"{home.source} (home_dir)")


def _file_path(text: str) -> Path:
    return Path(text).expanduser()


SERVER_OPTIONS: Tuple[Option, ...] = (
    Option("host", "--host", url_host, prefect_key("server.host", url_host)),
    Option("port", "--port", port, prefect_key("server.port", port)),
    Option("database", "--database", database_target, _database_under_prefect_home),
    Option("api_key", "--api-key", str, secret=True),
    Option("api_key_file", "--api-key-file", _file_path),
    Option("insecure", "--insecure", boolean),
    Option("heartbeat_timeout", "--heartbeat-timeout", positive_seconds),
    Option("max_resurrections", "--max-resurrections", non_negative_int),
    Option("cors_origins", "--cors-origin", origins),
    Option("submitted_timeout", "--submitted-timeout", positive_seconds),
    Option("version_locking", "--no-version-locking", boolean),
    Option("sqlite_synchronous", "--sqlite-synchronous", sqlite_synchronous),
    Option("log_level", "--log-level", log_level, prefect_key("logging.level", log_level)),
    Option("access_log", "--access-log", boolean),
    Option("ui_url", None, http_url, prefect_key("server.ui.endpoint", http_url)),
    Option("api_server_version", None, env="PREFECT_SERVER_VERSION"),
    Option("api_core_version", None, env="PREFECT_CORE_VERSION"),
    Option("api_release_timestamp", None, env="RELEASE_TIMESTAMP"),
)


def _defaults() -> Dict[str, Any]:
    values = {f.name: f.default for f in dataclasses.fields(ServerSettings)}
    values["api_key_file"] = None
    return values


def _rank(source: str) -> int:
    return 3 if source.startswith("flag") else 2 if source.startswith("env TASKS_FLOWRUN_") else 0


def _key_from(key: Setting, path: Setting) -> Setting:
    """The API key: --api-key, --api-key-file, $TASKS_FLOWRUN_API_KEY or $TASKS_FLOWRUN_API_KEY_FILE
    (a file's first line); two of the same rank are refused."""
    if path.value is None or _rank(key.source) > _rank(path.source):
        return Setting(key.value or None, key.source)
    if key.value is not None and _rank(key.source) == _rank(path.source):
        what = "--api-key or --api-key-file" if key.source.startswith("flag") else \
            "$TASKS_FLOWRUN_API_KEY or $TASKS_FLOWRUN_API_KEY_FILE"
        raise ConfigError(f"give either {what}, not both")
    name = "--api-key-file" if path.source.startswith("flag") else "$TASKS_FLOWRUN_API_KEY_FILE"
    try:
        lines = Path(path.value).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {name} {str(path.value)!r}: {exc}") from None
    value = lines[0].strip() if lines else ""
    if not value:
        raise ConfigError(f"{name} {str(path.value)!r} is empty: its first line must be the key")
    return Setting(value, f"{path.source} {path.value}")


def resolve_server_settings(flags: Mapping[str, Any], prefect: Optional[PrefectConfig] = None
                            ) -> Tuple[ServerSettings, Dict[str, Setting]]:
    """The settings of `tasks-flowrun server` from `flags` (values given on the command line;
    None = not given), the environment and Prefect's configuration, with each one's source.

    Raises:
        - ConfigError: a value that cannot be used, naming where it came from
    """
    prefect = prefect if prefect is not None else PrefectConfig()
    resolved = resolve(SERVER_OPTIONS, flags, _defaults(), prefect)
    key = _key_from(resolved["api_key"], resolved["api_key_file"])
    resolved = {name: key if name == "api_key" else setting for name, setting in resolved.items()
                if name != "api_key_file"}
    if resolved["database"].value is None:
        resolved["database"] = Setting(default_database_path(str(prefect.value("home_dir"))), "default")
    settings = ServerSettings(**{name: setting.value for name, setting in resolved.items()})
    return settings, resolved


# -- what Prefect's clients on this machine will do ----------------------------------------


def _endpoint_source(prefect: PrefectConfig) -> str:
    """Where the clients' endpoint (`cloud.api`) comes from: set itself, or derived (with a
    server backend) from `server.endpoint`, itself made of `server.host` and `server.port`."""
    for key in ("cloud.api", "server.endpoint"):
        variable = prefect.variable_for(key)
        if variable is not None:
            return f"env {variable}"
    parts = [f"{key} from {prefect.source(key)}" for key in ("server.host", "server.port")
             if prefect.source(key) != "default"]
    if parts:
        return "derived: " + ", ".join(parts)
    return prefect.source("cloud.api")


def client_view(prefect: PrefectConfig) -> List[Tuple[str, Any, str]]:
    """(name, value, source) of the Prefect settings that decide where clients send requests."""
    return [("prefect backend", prefect.value("backend"), prefect.source("backend")),
            ("prefect endpoint", prefect.value("cloud.api"), _endpoint_source(prefect)),
            ("prefect api key", prefect.value("cloud.api_key"), prefect.source("cloud.api_key"))]


def client_mismatch(settings: ServerSettings, prefect: PrefectConfig) -> List[str]:
    """Why Prefect clients using this machine's configuration would not reach this backend."""
    from urllib.parse import urlsplit

    notes = []
    backend = prefect.value("backend")
    if backend != "server":
        notes.append(f"Prefect's backend is {backend!r} ({prefect.source('backend')}), so its clients talk to "
                     "Prefect Cloud: run `prefect backend server` (or set PREFECT__BACKEND=server) to use this backend.")
        return notes
    endpoint = str(prefect.value("cloud.api") or "")
    parts = urlsplit(endpoint)
    try:
        client_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return [f"Prefect's endpoint {endpoint!r} is not a valid URL."]
    client_host = parts.hostname or ""
    same_host = (client_host == settings.host or settings.host in ("0.0.0.0", "::")
                 or (is_loopback(client_host) and is_loopback(settings.host)))
    if settings.port != 0 and (client_port != settings.port or not same_host):
        notes.append(f"Prefect's clients on this machine look for the backend at {endpoint} "
                     f"({_endpoint_source(prefect)}), not at {settings.url} where this server listens: set "
                     "PREFECT__SERVER__PORT (and PREFECT__SERVER__HOST), or the same in ~/.prefect/config.toml, "
                     "so both agree.")
    api_key = prefect.value("cloud.api_key")
    if settings.api_key and api_key != settings.api_key:
        notes.append("This server requires an API key that Prefect's clients on this machine do not send "
                     "(set PREFECT__CLOUD__API_KEY to it).")
    return notes
