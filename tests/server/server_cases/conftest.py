"""The objects Prefect Server's GraphQL tests start from (a project, "Test Flow", its runs and
task runs in given states), built here over HTTP with the same mutations a client sends.

Every test gets its own project; the project is deleted afterwards (with its flows and their
runs), so the session's shared backend does not fill up. Labels that Server's tests spell
"foo" and "bar" are made unique to the test, so agents and queue checks of other tests never
see these runs.
"""
import datetime
from typing import Iterator, List

import pendulum
import prefect
import pytest
from prefect.engine.state import Running, Success

from tests.server.server_cases.calls import (
    create_flow, get_or_create_task_run, mutate, ok, rows, set_flow_run_state, set_task_run_state,
)
from tests.server.support import GraphQL, unique


def _create_project(gql: GraphQL, tenant_id: str, name: str) -> str:
    body = mutate(gql, "create_project", {"tenant_id": tenant_id, "name": unique(name)}, "id")
    return ok(body, "create_project")["id"]


def _delete_project(gql: GraphQL, project_id: str) -> None:
    mutate(gql, "delete_project", {"project_id": project_id})


@pytest.fixture
def project_id(gql: GraphQL, tenant_id: str) -> Iterator[str]:
    project_id = _create_project(gql, tenant_id, "Test Project")
    yield project_id
    _delete_project(gql, project_id)


@pytest.fixture
def project_id_2(gql: GraphQL, tenant_id: str) -> Iterator[str]:
    project_id = _create_project(gql, tenant_id, "Test Project 2")
    yield project_id
    _delete_project(gql, project_id)


def build_test_flow(name: str = "Test Flow", labels: List[str] = None) -> prefect.Flow:
    """Server's test flow: t1 -> t2 (tagged), a parameter x (default 1), a daily schedule from 2018."""
    flow = prefect.Flow(
        name=name,
        schedule=prefect.schedules.IntervalSchedule(
            start_date=pendulum.datetime(2018, 1, 1), interval=datetime.timedelta(days=1)
        ),
    )
    if labels is not None:
        flow.run_config = prefect.run_configs.UniversalRun(labels=labels)
    flow.add_edge(prefect.Task("t1", tags={"red", "blue"}), prefect.Task("t2", tags={"red", "green"}))
    flow.add_task(prefect.Parameter("x", default=1))
    return flow





@pytest.fixture
def flow_id(gql: GraphQL, project_id: str) -> str:
    return create_flow(gql, project_id, build_test_flow().serialize(), set_schedule_active=False)


@pytest.fixture
def flow_group_id(gql: GraphQL, flow_id: str) -> str:
    return rows(gql, "flow", {"id": {"_eq": flow_id}}, "flow_group_id")[0]["flow_group_id"]


@pytest.fixture
def labels() -> List[str]:
    """The labels of the labeled flow ("foo" and "bar" in Server's tests), unique to the test."""
    return sorted([unique("foo"), unique("bar")])


@pytest.fixture
def labeled_flow_id(gql: GraphQL, project_id: str, labels: List[str]) -> str:
    return create_flow(gql, project_id, build_test_flow("Labeled Flow", labels=labels).serialize())


def _first_task(gql: GraphQL, flow_id: str) -> str:
    return rows(gql, "task", {"flow_id": {"_eq": flow_id}, "type": {"_nlike": "%Parameter%"}}, "id",
                order_by={"slug": "asc"})[0]["id"]


@pytest.fixture
def task_id(gql: GraphQL, flow_id: str) -> str:
    return _first_task(gql, flow_id)


@pytest.fixture
def labeled_task_id(gql: GraphQL, labeled_flow_id: str) -> str:
    return _first_task(gql, labeled_flow_id)


@pytest.fixture
def flow_run_id(gql: GraphQL, flow_id: str) -> str:
    return gql.create_flow_run(flow_id=flow_id, parameters={"x": 1})


@pytest.fixture
def running_flow_run_id(gql: GraphQL, flow_run_id: str) -> str:
    set_flow_run_state(gql, flow_run_id, Running())
    return flow_run_id


@pytest.fixture
def labeled_flow_run_id(gql: GraphQL, labeled_flow_id: str) -> str:
    return gql.create_flow_run(flow_id=labeled_flow_id, parameters={"x": 1})


@pytest.fixture
def flow_run_id_2(gql: GraphQL, flow_id: str) -> str:
    """A flow run in a Running state."""
    flow_run_id = gql.create_flow_run(flow_id=flow_id, parameters={"x": 1})
    set_flow_run_state(gql, flow_run_id, Running())
    return flow_run_id


@pytest.fixture
def flow_run_id_3(gql: GraphQL, flow_id: str) -> str:
    """A flow run in a Success state."""
    flow_run_id = gql.create_flow_run(flow_id=flow_id, parameters={"x": 1})
    set_flow_run_state(gql, flow_run_id, Running())
    set_flow_run_state(gql, flow_run_id, Success())
    return flow_run_id


@pytest.fixture
def task_run_id(gql: GraphQL, flow_run_id: str, task_id: str) -> str:
    return get_or_create_task_run(gql, flow_run_id, task_id)


@pytest.fixture
def labeled_task_run_id(gql: GraphQL, labeled_flow_run_id: str, labeled_task_id: str) -> str:
    return get_or_create_task_run(gql, labeled_flow_run_id, labeled_task_id)


@pytest.fixture
def task_run_id_2(gql: GraphQL, flow_run_id_2: str, task_id: str) -> str:
    """A task run in a Running state."""
    task_run_id = get_or_create_task_run(gql, flow_run_id_2, task_id)
    set_task_run_state(gql, task_run_id, Running())
    return task_run_id


@pytest.fixture
def task_run_id_3(gql: GraphQL, flow_run_id_3: str, task_id: str) -> str:
    """A task run in a Success state."""
    task_run_id = get_or_create_task_run(gql, flow_run_id_3, task_id)
    set_task_run_state(gql, task_run_id, Success())
    return task_run_id
