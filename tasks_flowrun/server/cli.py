"""`tasks-flowrun server`: the embedded backend in the foreground, stopped by Ctrl-C."""
import signal
import socket
import sys
from types import FrameType
from typing import Optional, TextIO

from .settings import ServerSettings


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _stop_on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    # uvicorn re-raises the signal it caught once it has shut down; turn SIGTERM into
    # the same clean exit as Ctrl-C instead of dying from the default handler.
    raise KeyboardInterrupt


def serve(settings: ServerSettings, out: TextIO = sys.stdout) -> int:
    """Serve the backend until Ctrl-C (or SIGTERM); return the process exit code."""
    import uvicorn

    from .app import create_app

    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        print(
            f"tasks-flowrun server: cannot listen on {settings.host}:{settings.port}: "
            f"{exc.strerror or exc}. Pick another port with --port.",
            file=sys.stderr,
        )
        return 1
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    settings = ServerSettings(**{**settings.__dict__, "port": port})
    settings.database.parent.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    auth = ", API key required" if settings.api_key else ""
    print(
        f"tasks-flowrun server: Prefect 1 API at {url} (database {settings.database}{auth}); "
        "Ctrl-C to stop",
        file=out,
        flush=True,
    )
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
