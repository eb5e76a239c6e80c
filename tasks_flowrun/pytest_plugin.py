"""pytest plugin of tasks_flowrun, loaded by pytest when the package is installed (its `pytest11`
entry point): the fixture `tasks_flowrun_backend`.

It costs nothing to test runs that do not use it: this module imports only pytest, and the
backend's code is imported when a test asks for the fixture. Disable it with
`pytest -p no:tasks_flowrun`.
"""
from pathlib import Path
from typing import Any, Iterator

import pytest


@pytest.fixture
def tasks_flowrun_backend(tmp_path: Path) -> Iterator[Any]:
    """A fresh embedded backend (SQLite in the test's tmp_path) with a `tasks-flowrun agent`
    running, and Prefect pointed at it (this process's configuration and the environment of
    subprocesses; restored after the test). Yields a `tasks_flowrun.testing.EmbeddedBackend`:
    `.url`, `.client` (a `prefect.Client`), `.register(flow, project_name="tests")`,
    `.agent_log`."""
    from tasks_flowrun.testing import embedded_backend

    with embedded_backend(tmp_path / "tasks-flowrun") as backend:
        yield backend
