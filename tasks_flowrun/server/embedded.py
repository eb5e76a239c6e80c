"""Run the embedded backend in a background thread, as a context manager.

Used by the tests, the demo and anyone who wants a backend inside a Python process:

    with EmbeddedServer(port=0, database="/tmp/x.db") as server:
        print(server.url)   # http://127.0.0.1:<port>
"""
import threading
import time
from pathlib import Path
from typing import Any, Optional, Union

import uvicorn

from ..net import free_port
from .app import create_app
from .http import uvicorn_options
from .http.draining import DrainingServer
from .settings import ServerSettings


class EmbeddedServer:
    """The embedded backend served by uvicorn in a daemon thread.

    Args:
        - host (str): interface to bind
        - port (int): port; 0 picks a free one
        - database (str or Path, optional): SQLite file (default under `~/.prefect/`), or a
            `postgresql://` URL
        - api_key (str, optional): require this bearer token
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        database: Optional[Union[str, Path]] = None,
        api_key: Optional[str] = None,
        settings: Optional[ServerSettings] = None,
    ) -> None:
        if settings is None:
            settings = ServerSettings(
                host=host,
                port=port or free_port(host),
                database=database,  # type: ignore[arg-type]
                api_key=api_key,
            )
        elif settings.port == 0:
            settings = ServerSettings(**{**settings.__dict__, "port": free_port(settings.host)})
        self.settings = settings
        self.app = create_app(settings)
        self._server: Optional[uvicorn.Server] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    @property
    def stats(self) -> Any:
        """Request counters of this server (see `RequestStats`)."""
        return self.app.state.stats

    def start(self, timeout: float = 20.0) -> "EmbeddedServer":
        config = uvicorn.Config(self.app, host=self.settings.host, port=self.settings.port,
                                **uvicorn_options(self.settings))
        self._server = DrainingServer(config, self.app.state.db.changes.close)
        self._thread = threading.Thread(target=self._server.run, name="tasks-flowrun-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"The embedded backend failed to start on {self.url}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"The embedded backend did not start within {timeout}s on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> "EmbeddedServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
