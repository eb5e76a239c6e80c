"""Prefect Server's tests/graphql/queries/test_api.py, over HTTP: the `api` query (backend,
mode, versions, release time, and the environment variables that set them).

The backend runs in this process (tests/conftest.py), so the variables set here reach it.
"""
import prefect

from tasks_flowrun import __version__

QUERY = "query { api { backend mode version core_version release_timestamp } }"


def api(gql):
    return gql.data(QUERY)["api"]


def test_backend(gql):
    assert api(gql)["backend"] == "SERVER"


def test_mode(gql):
    assert api(gql)["mode"] == "normal"


def test_core_version_uses_env_var(gql, monkeypatch):
    monkeypatch.setenv("PREFECT_CORE_VERSION", "core-version")
    assert api(gql)["core_version"] == "core-version"


def test_core_version_uses_dunder_if_no_env_var(gql, monkeypatch):
    monkeypatch.delenv("PREFECT_CORE_VERSION", raising=False)
    assert api(gql)["core_version"] == prefect.__version__


def test_server_version_picks_up_dunder_version_if_no_server_env_var(gql, monkeypatch):
    # Server answers its own package's version; this backend answers its own
    monkeypatch.delenv("PREFECT_SERVER_VERSION", raising=False)
    assert api(gql)["version"] == f"tasks-flowrun {__version__}"


def test_server_version_picks_up_env_var(gql, monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_VERSION", "server-version")
    assert api(gql)["version"] == "server-version"


def test_release_timestamp_picks_up_env_var(gql, monkeypatch):
    monkeypatch.setenv("RELEASE_TIMESTAMP", "2020-04-04T01:08:22Z")
    assert api(gql)["release_timestamp"] == "2020-04-04T01:08:22Z"


def test_release_timestamp_returns_null_if_not_set(gql, monkeypatch):
    monkeypatch.delenv("RELEASE_TIMESTAMP", raising=False)
    assert api(gql)["release_timestamp"] is None


def test_hello(gql):
    """Beyond Server's own file: Server's `hello` query."""
    assert gql.data("query { hello }")["hello"] == "👋"
