"""Several `tasks-flowrun server` processes on one PostgreSQL database (the run's cluster):
each a real CLI process on a port of its own. Skipped on the SQLite run: only PostgreSQL
lets several processes share one database."""
import subprocess
from contextlib import contextmanager
import time
from pathlib import Path
from typing import Iterator, List

import pytest
import requests

from tasks_flowrun.net import free_port
from tests import stores
from tests.helpers import stop_process
from tests.test_cli import cli_command, cli_env


class ServerProcess:
    """One `tasks-flowrun server` process: its URL, its log, a way to stop or kill it."""

    def __init__(self, database: str, home: Path, name: str, extra: List[str] = ()) -> None:
        self.log_path = home / f"{name}.log"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cli_command() + ["server", "--port", str(port), "--database", database, *extra],
                                     env=cli_env(home), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server {name} did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        stop_process(self.proc)


@contextmanager
def prefect_at(url: str, home: Path) -> Iterator[None]:
    """Prefect (this process) configured for the backend at `url`."""
    import prefect
    from prefect.utilities.configuration import set_temporary_config

    config = {"backend": "server", "server.endpoint": url, "cloud.api": url, "cloud.graphql": url + "/graphql",
              "home_dir": str(home)}
    with set_temporary_config(config), prefect.context(config=prefect.config):
        yield


@pytest.fixture
def shared_database(postgres_admin_url: str) -> str:
    """A fresh PostgreSQL database for the processes of one test (skips on the SQLite run)."""
    return str(stores.fresh_database("scaleout"))


@pytest.fixture
def two_servers(shared_database: str, tmp_path: Path) -> Iterator[List[ServerProcess]]:
    """Two server processes on one database."""
    servers: List[ServerProcess] = []
    try:
        for name in ("a", "b"):
            servers.append(ServerProcess(shared_database, tmp_path, name))
        yield servers
    finally:
        for server in servers:
            server.stop()
