"""No child under a cancelled or deleted parent: the backend refuses the create
(`PARENT_CANCELLED` / `PARENT_DELETED`, built on the backend's side) and the create task
fails saying so, with nothing created.

The tests through the backend need that refusal; against a backend without it (this
branch before the backend's part is merged) they are skipped, saying why. The translation
of the refusal into the task's failure is checked on its own with the error the backend
sends (a narrow stand-in for the one request)."""
import uuid

import prefect
import pytest
from prefect.engine import signals
from prefect.engine import state as states
from prefect.exceptions import ClientError

from tasks_flowrun import create_flow_run
from tasks_flowrun.client import ParentGoneError
from tasks_flowrun.client.errors import error_codes
from tests.tasks.conftest import flow_runs, register_script, runs_of_flow_named

DELETE = "mutation($input: delete_flow_run_input!) { delete_flow_run(input: $input) { success } }"


def _parent(client, project, final=None):
    flow_id = register_script("child.py", project)
    parent = client.create_flow_run(flow_id=flow_id, parameters={"x": 0}, labels=["nowhere"])
    client.set_flow_run_state(parent, states.Running("the parent runs"))
    if final is not None:
        client.set_flow_run_state(parent, final)
    return parent


def _ctx(parent):
    return {"flow_run_id": parent, "flow_run_name": "parent", "task_run_id": str(uuid.uuid4()),
            "task_slug": "create_flow_run-1", "running_with_backend": True}


def refusal_supported(client, project) -> bool:
    """Whether the backend refuses a child of a cancelled parent (`PARENT_CANCELLED`)."""
    parent = _parent(client, project, states.Cancelled("cancelled by a user"))
    [flow] = [r["flow_id"] for r in flow_runs(client, {"id": {"_eq": parent}})]
    create = {"mutation($input: create_flow_run_input!)": {"create_flow_run(input: $input)": {"id"}}}
    try:
        client.graphql(create, variables={"input": {"flow_id": flow, "context": {"parent_flow_run_id": parent},
                                                    "parameters": {"x": 1}, "labels": ["nowhere"]}})
    except ClientError as exc:
        if "PARENT_CANCELLED" in error_codes(exc):
            return True
        raise
    return False


@pytest.fixture
def refusing_backend(client, project):
    """Skip unless the backend refuses a child of a cancelled parent."""
    if not refusal_supported(client, project):
        pytest.skip("this backend does not refuse children of a cancelled parent yet (the PARENT_CANCELLED "
                    "refusal is built on the backend's side)")


@pytest.mark.parametrize("final", [states.Cancelled("stopped by a user"), states.Cancelling("stopping")],
                         ids=["Cancelled", "Cancelling"])
def test_a_child_of_a_cancelled_parent_is_refused_and_nothing_is_created(client, project, refusing_backend, final):
    parent = _parent(client, project, final)
    before = len(runs_of_flow_named(client, "child", project))
    with prefect.context(**_ctx(parent), map_index=0), pytest.raises(signals.FAIL) as caught:
        create_flow_run.run(flow_name="child", project_name=project, parameters={"x": 1}, labels=["nowhere"])
    assert f"No child flow run of flow 'child' was created: its parent flow run {parent} was cancelled" \
        in str(caught.value)
    assert len(runs_of_flow_named(client, "child", project)) == before


def test_a_child_of_a_deleted_parent_is_refused(client, project, refusing_backend):
    parent = _parent(client, project)
    client.graphql(DELETE, variables={"input": {"flow_run_id": parent}})
    before = len(runs_of_flow_named(client, "child", project))
    with prefect.context(**_ctx(parent), map_index=0), pytest.raises(signals.FAIL) as caught:
        create_flow_run.run(flow_name="child", project_name=project, parameters={"x": 1}, labels=["nowhere"])
    assert f"its parent flow run {parent} was deleted" in str(caught.value)
    assert len(runs_of_flow_named(client, "child", project)) == before


def test_a_local_flow_run_records_no_parent_and_is_never_refused(client, project):
    register_script("child.py", project)
    local = {"flow_run_id": str(uuid.uuid4()), "flow_run_name": "local", "task_slug": "create_flow_run-1"}
    with prefect.context(**local):
        run_id = create_flow_run.run(flow_name="child", project_name=project, parameters={"x": 1},
                                     labels=["nowhere"])
    [row] = flow_runs(client, {"id": {"_eq": run_id}})
    assert "parent_flow_run_id" not in row["context"] and row["context"] == {}


@pytest.mark.parametrize("code, word", [("PARENT_CANCELLED", "cancelled"), ("PARENT_DELETED", "deleted")])
def test_the_refusal_becomes_the_tasks_failure_without_a_second_try(client, project, monkeypatch, code, word):
    register_script("child.py", project)
    parent = str(uuid.uuid4())
    message = f"Flow run {parent} is {word}: no child flow run can be created under it."
    real = prefect.Client.graphql
    sent = []

    def refuse_creates(self, query, *args, **kwargs):
        if "create_flow_run(input: $input)" in str(query):
            sent.append(query)
            raise ClientError([{"message": message, "extensions": {"code": code}}])
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(prefect.Client, "graphql", refuse_creates)
    for attempt in range(2):  # the look-up's miss, then a cache hit: both refused at once
        with prefect.context(**_ctx(parent), map_index=attempt), pytest.raises(signals.FAIL) as caught:
            create_flow_run.run(flow_name="child", project_name=project, parameters={"x": 1})
        assert str(caught.value) == (f"No child flow run of flow 'child' was created: its parent flow run {parent} "
                                     f"was {word}. The backend says: {message}")
    assert len(sent) == 2  # no look-up-and-retry after the refusal
    assert issubclass(ParentGoneError, ValueError)
