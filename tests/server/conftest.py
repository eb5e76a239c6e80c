"""Fixtures for the backend tests (no agent): raw GraphQL over HTTP and flows registered for real."""
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest

from tests.server.support import GraphQL, RegisteredFlow, build_flow, register, unique


@pytest.fixture
def gql(server, backend_env) -> GraphQL:
    """Raw GraphQL over HTTP to the real embedded backend (`requests`, the client's wire format)."""
    return GraphQL(server.url)


@pytest.fixture
def tenant_id(client) -> str:
    return client.tenant_id


@pytest.fixture
def make_flow(gql: GraphQL, project: str, tmp_path: Path) -> Callable[..., RegisteredFlow]:
    """Build a small flow and register it through `flow.register` into the test's project.

    Its runs carry no hostname label, so no agent started by other tests ever takes them.
    """
    storage_dir = tmp_path / "flow-storage"
    storage_dir.mkdir(exist_ok=True)

    def make(
        name: str = None,
        *,
        parameters: Sequence[Any] = (),
        n_tasks: int = 1,
        labels: Sequence[str] = (),
        project_name: str = None,
        task_prefix: str = "step",
        **register_kwargs: Any,
    ) -> RegisteredFlow:
        flow = build_flow(
            name or unique("flow"),
            parameters=parameters,
            n_tasks=n_tasks,
            labels=labels,
            storage_dir=storage_dir,
            task_prefix=task_prefix,
        )
        return register(gql, flow, project_name or project, **register_kwargs)

    return make
