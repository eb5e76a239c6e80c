"""`tasks-flowrun server`: the embedded backend in the foreground, stopped by Ctrl-C."""
import signal
import socket
import sys
from types import FrameType
from typing import Callable, List, Mapping, Optional, TextIO

import uvicorn

from ..config import Setting
from ..net import is_loopback
from .http.draining import DrainingServer
from .settings import ServerSettings
from .storage.migrations import SchemaVersionError


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (port 0 picks a free one); OSError if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP (not 0): asyncio only turns Nagle off (TCP_NODELAY) on accepted
    # sockets whose proto says TCP, and without it every keep-alive request waits ~40 ms
    # for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class AnnouncingServer(DrainingServer):
    """A uvicorn server that prints one line once it listens and the database is ready, and
    pauses recovery as soon as it is asked to stop: while it shuts down (waiting for the
    requests in flight) it no longer hears flow runs, so their silence is no evidence."""

    def __init__(self, config: uvicorn.Config, release_held: Callable[[], None], ready_line: str, out: TextIO,
                 on_exit: Optional[Callable[[], None]] = None) -> None:
        super().__init__(config, release_held)
        self.ready_line = ready_line
        self.out = out
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: Optional[FrameType]) -> None:
        if self.on_exit is not None and not self.should_exit:
            self.on_exit()
        super().handle_exit(sig, frame)

    async def startup(self, sockets: Optional[List[socket.socket]] = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self.ready_line, file=self.out, flush=True)


def _stop_on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal it caught;
    # make that the same clean exit as Ctrl-C instead of a death by signal.
    raise KeyboardInterrupt


def exposure_refusal(settings: ServerSettings) -> Optional[str]:
    """Why the backend must not start as configured (reachable from other machines with no
    key), or None; with `insecure` it starts, after a loud warning."""
    if is_loopback(settings.host) or settings.api_key:
        return None
    if settings.insecure:
        print(f"tasks-flowrun server: WARNING: listening on {settings.host} WITHOUT an API key (--insecure): "
              "anyone who can reach this port can create, change and delete flows and runs.",
              file=sys.stderr, flush=True)
        return None
    return (f"refusing to listen on {settings.host} without an API key: anyone who can reach the port could "
            "run code through your agents. Set $TASKS_FLOWRUN_API_KEY or --api-key-file PATH, or pass "
            "--insecure to do it anyway.")


def _from(sources: Optional[Mapping[str, Setting]], *names: str) -> str:
    """Where the named settings came from, when not from a flag or their default, e.g.
    ` (port from env TASKS_FLOWRUN_PORT)`; empty otherwise."""
    told = [f"{name} from {sources[name].source}" for name in names
            if sources and name in sources and not sources[name].source.startswith(("flag", "default"))]
    return f" ({'; '.join(told)})" if told else ""


def serve(settings: ServerSettings, out: TextIO = sys.stdout, sources: Optional[Mapping[str, Setting]] = None) -> int:
    """Serve the backend until Ctrl-C (or SIGTERM); return the process exit code. `sources`
    (where each setting came from) makes error messages name a setting's origin."""
    from .app import create_app
    from .http import uvicorn_options

    refusal = exposure_refusal(settings)
    if refusal is not None:
        print(f"tasks-flowrun server: {refusal}", file=sys.stderr)
        return 2

    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        print(
            f"tasks-flowrun server: cannot listen on {settings.host}:{settings.port}"
            f"{_from(sources, 'host', 'port')}: {exc.strerror or exc}. Pick another port with --port.",
            file=sys.stderr,
        )
        return 1
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    settings = ServerSettings(**{**settings.__dict__, "port": port})
    auth = ", API key required" if settings.api_key else ""
    try:
        app = create_app(settings)  # opens the database, upgrading its schema if it is older
    except (SchemaVersionError, ImportError) as exc:  # ImportError: the `postgres` extra is missing
        sock.close()
        print(f"tasks-flowrun server: {exc}", file=sys.stderr)
        return 2
    upgrade = app.state.db.schema_upgrade
    upgraded = f"; {upgrade.describe()}" if upgrade is not None else ""
    ready_line = (f"tasks-flowrun server: Prefect 1 API at {url} (database {app.state.db.description}{auth}{upgraded}); "
                  f"web page at {url}/; Ctrl-C to stop")

    config = uvicorn.Config(app, **uvicorn_options(settings))
    availability = app.state.availability
    server = AnnouncingServer(config, app.state.db.changes.close, ready_line, out, on_exit=lambda: availability.unavailable(
        "shutdown", "the backend is shutting down"))
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    if not server.started:
        print("tasks-flowrun server: the backend failed to start (see the error above)", file=sys.stderr)
        return 1
    return 0
