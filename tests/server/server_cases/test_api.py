"""Prefect Server's tests/graphql/queries/test_api.py, over HTTP: the `api` query (backend,
mode, versions, release time, and the environment variables that set them).

Server reads the variables per request; this backend reads them with the rest of its
settings when it starts (tasks_flowrun/config.py), so the tests that set one start a
backend of their own, with its settings made by `tasks-flowrun server`'s own resolution.
"""
from pathlib import Path

import prefect
import pytest

from tasks_flowrun import __version__
from tests.server.support import GraphQL
from tests.stores import fresh_database

QUERY = "query { api { backend mode version core_version release_timestamp } }"


def api(gql):
    return gql.data(QUERY)["api"]


@pytest.fixture
def started_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A backend started with these environment variables set: its GraphQL client."""
    from tasks_flowrun.server.embedded import EmbeddedServer
    from tasks_flowrun.server.settings import resolve_server_settings

    servers = []

    def start(**variables: str) -> GraphQL:
        for name in ("PREFECT_SERVER_VERSION", "PREFECT_CORE_VERSION", "RELEASE_TIMESTAMP"):
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        settings, _ = resolve_server_settings({"port": 0, "database": fresh_database(tmp_path, "api")})
        servers.append(EmbeddedServer(settings=settings).start())
        return GraphQL(servers[-1].url)

    yield start
    for server in servers:
        server.stop()


def test_backend(gql):
    assert api(gql)["backend"] == "SERVER"


def test_mode(gql):
    assert api(gql)["mode"] == "normal"


def test_core_version_uses_env_var(started_with):
    assert api(started_with(PREFECT_CORE_VERSION="core-version"))["core_version"] == "core-version"


def test_core_version_uses_dunder_if_no_env_var(started_with):
    assert api(started_with())["core_version"] == prefect.__version__


def test_server_version_picks_up_dunder_version_if_no_server_env_var(started_with):
    # Server answers its own package's version; this backend answers its own
    assert api(started_with())["version"] == f"tasks-flowrun {__version__}"


def test_server_version_picks_up_env_var(started_with):
    assert api(started_with(PREFECT_SERVER_VERSION="server-version"))["version"] == "server-version"


def test_release_timestamp_picks_up_env_var(started_with):
    answer = api(started_with(RELEASE_TIMESTAMP="2020-04-04T01:08:22Z"))
    assert answer["release_timestamp"] == "2020-04-04T01:08:22Z"


def test_release_timestamp_returns_null_if_not_set(started_with):
    assert api(started_with())["release_timestamp"] is None


def test_hello(gql):
    """Beyond Server's own file: Server's `hello` query."""
    assert gql.data("query { hello }")["hello"] == "👋"
