"""Shared fixtures: a real embedded backend on a free port, Prefect pointed at it, a real LocalAgent."""
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from tests.helpers import prefect_env, start_agent, stop_process

if TYPE_CHECKING:
    from tasks_flowrun.server.embedded import EmbeddedServer


@pytest.fixture(scope="session")
def test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="session")
def server(test_home: Path) -> Iterator["EmbeddedServer"]:
    """The embedded backend, started for real (uvicorn on a free port, temp SQLite file)."""
    from tasks_flowrun.server.embedded import EmbeddedServer

    with EmbeddedServer(port=0, database=test_home / "backend.db") as srv:
        yield srv


@pytest.fixture(scope="session")
def backend_env(server, test_home: Path) -> Iterator[dict]:
    """Environment variables (for subprocesses) and Prefect config (for this process) pointing at `server`."""
    import prefect
    from prefect.utilities.configuration import set_temporary_config

    env = prefect_env(server.url, test_home)
    saved = {k: os.environ.get(k) for k in env if k.startswith("PREFECT__")}
    for key, value in env.items():
        if key.startswith("PREFECT__"):
            os.environ[key] = value
    with set_temporary_config(
        {
            "backend": "server",
            "server.endpoint": server.url,
            "cloud.api": server.url,
            "cloud.graphql": server.url + "/graphql",
            "home_dir": str(test_home),
            "cloud.send_flow_run_logs": True,
        }
    ):
        with prefect.context(config=prefect.config):
            yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def client(backend_env):
    """A real `prefect.Client` talking to the embedded backend."""
    from prefect import Client

    return Client()


@pytest.fixture
def project(client) -> str:
    """A fresh project name (created on the backend)."""
    name = f"proj-{uuid.uuid4().hex[:8]}"
    client.create_project(name)
    return name


@pytest.fixture(scope="session")
def agent(backend_env, test_home: Path) -> Iterator[dict]:
    """A real LocalAgent (subprocess) with the hostname label, shared by the session."""
    log_path = test_home / "agent.log"
    proc = start_agent(backend_env, log_path)
    yield {"process": proc, "log": log_path}
    stop_process(proc)


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    """A directory for Local storage of flows registered by one test."""
    path = tmp_path / "flows"
    path.mkdir()
    return path
