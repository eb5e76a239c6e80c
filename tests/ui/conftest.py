"""Fixtures for the Prefect UI's requests: a backend that grants CORS to the UI's origin."""
from typing import Iterator

import pytest

from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.settings import ServerSettings
from tests.stores import fresh_database

UI_ORIGIN = "http://localhost:8080"  # where the `prefecthq/ui` image serves the UI


@pytest.fixture(scope="module")
def ui_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A backend started as `tasks-flowrun server --cors-origin http://localhost:8080` would be."""
    database = fresh_database(tmp_path_factory.mktemp("ui-backend"))
    with EmbeddedServer(settings=ServerSettings(port=0, database=database, cors_origins=(UI_ORIGIN,))) as srv:
        yield srv
