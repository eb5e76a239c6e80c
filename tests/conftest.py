"""Shared fixtures: a real embedded backend on a free port, Prefect pointed at it, a real LocalAgent;
the store the backends use (`--store`, see tests/stores.py)."""
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Union

import pytest

from tests import stores
from tests.helpers import prefect_env, start_agent, stop_process

if TYPE_CHECKING:
    from tasks_flowrun.server.embedded import EmbeddedServer


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store", choices=stores.STORES, default=None,
                     help=f"the backends' store: sqlite files, or databases in a throwaway PostgreSQL cluster "
                          f"(default: ${stores.ENV_VAR}, else sqlite)")


def pytest_configure(config: pytest.Config) -> None:
    try:
        stores.select(config.getoption("--store"))
    except ValueError as exc:
        raise pytest.UsageError(f"${stores.ENV_VAR}: {exc}")
    config.addinivalue_line("markers", "sqlite_only: tests the SQLite file itself (skipped with --store=postgresql)")
    config.addinivalue_line("markers", "slow_fault: waits out heartbeat timeouts and grace periods around faults of "
                                       "processes, not of the store (`tox -e tests` runs these in a pass of their own, "
                                       "on SQLite; see tests/both_stores.py)")
    config.addinivalue_line("markers", "backend_outage: a slow_fault test of the backend itself stopped, killed or "
                                       "suspended (`tox -e tests` runs these in a pass of their own beside the other "
                                       "slow_fault tests)")
    config.addinivalue_line("markers", "repository_check: a module directly under tests/ (the command line, configuration, "
                                       "examples, README, packaging, layering); marked at collection, so that "
                                       "`tox -e tests` can run them beside the slow_fault tests (tests/both_stores.py)")
    config.addinivalue_line("markers", "postgresql_e2e: an end-to-end test that `tox -e tests` also runs on PostgreSQL "
                                       "(the store's own change feed, idempotency, several server processes); other "
                                       "e2e tests run on SQLite there (see tests/both_stores.py)")


def pytest_report_header(config: pytest.Config) -> str:
    return f"store: {stores.current()}"


TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items) -> None:
    for item in items:
        if Path(str(item.fspath)).resolve().parent == TESTS_DIR:
            item.add_marker(pytest.mark.repository_check)
    if stores.is_postgresql():
        skip = pytest.mark.skip(reason="tests the SQLite file itself, not a behaviour of the backend")
        for item in items:
            if item.get_closest_marker("sqlite_only"):
                item.add_marker(skip)


def pytest_unconfigure(config: pytest.Config) -> None:
    stores.shutdown()  # the PostgreSQL cluster, if one was started (also after Ctrl-C)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The superuser URL of the run's PostgreSQL cluster (skips the test on the SQLite run)."""
    if not stores.is_postgresql():
        pytest.skip("needs --store=postgresql")
    return stores.admin_url()


@pytest.fixture(scope="session")
def test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="session")
def server_database(test_home: Path) -> Union[Path, str]:
    """The session backend's database (a SQLite file or a PostgreSQL URL)."""
    return stores.fresh_database(test_home)


@pytest.fixture(scope="session")
def server(server_database) -> Iterator["EmbeddedServer"]:
    """The embedded backend, started for real (uvicorn on a free port, a fresh database of the run's store)."""
    from tasks_flowrun.server.embedded import EmbeddedServer

    with EmbeddedServer(port=0, database=server_database) as srv:
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
