"""Fixtures for the end-to-end tests (real server, real CLI, real LocalAgent)."""
import pytest

from tests.server.support import GraphQL


@pytest.fixture
def gql(server, backend_env) -> GraphQL:
    return GraphQL(server.url)
