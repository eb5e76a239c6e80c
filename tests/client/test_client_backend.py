"""The client layer against the real embedded backend: one request each, only what is needed."""
import uuid

import pytest
from prefect.engine import state as states
from prefect.storage import Local
from prefect.utilities.storage import extract_flow_from_file

from tasks_flowrun.client import (
    AmbiguousFlowError,
    ArchivedFlowError,
    FlowNotFoundError,
    FlowRunNotFoundError,
    send_create_flow_run,
    find_child_flow,
    flow_run_views,
    views_from_rows,
    read_flow_runs,
)
from tests.tasks.conftest import FLOWS


def register(project: str) -> str:
    flow = extract_flow_from_file(file_path=str(FLOWS / "child.py"))
    flow.storage = Local(path=str(FLOWS / "child.py"), stored_as_script=True)
    return flow.register(project_name=project, no_url=True)


def test_find_child_flow_by_each_identifier_in_one_request(client, project, requests_counter):
    old = register(project)
    new = register(project)
    with requests_counter() as counted:
        by_name = find_child_flow(client, flow_name="child", project_name=project)
    assert counted.requests == 1 and set(counted.fields) == {"flow", "tenant"}
    assert by_name.flow_id == new and not by_name.pinned and by_name.tenant_slug
    assert by_name.project_name == project and by_name.version == 2 and by_name.version_group_id
    by_group = find_child_flow(client, flow_group_id=by_name.flow_group_id)
    group_as_id = find_child_flow(client, flow_id=by_name.flow_group_id)
    assert by_group.flow_id == group_as_id.flow_id == new and not group_as_id.pinned
    pinned = find_child_flow(client, flow_id=new)
    assert pinned.pinned and pinned.flow_id == new
    with pytest.raises(ArchivedFlowError, match=f"flow_group_id='{by_name.flow_group_id}'"):
        find_child_flow(client, flow_id=old)


def test_find_child_flow_errors(client, project):
    register(project)
    other = f"{project}-b"
    client.create_project(other)
    register(other)
    with pytest.raises(AmbiguousFlowError) as caught:
        find_child_flow(client, flow_name="child")
    assert repr(project) in str(caught.value) and repr(other) in str(caught.value)
    with pytest.raises(FlowNotFoundError):
        find_child_flow(client, flow_group_id=str(uuid.uuid4()))


def test_create_then_read_many_runs_in_one_request(client, project, requests_counter):
    register(project)
    child = find_child_flow(client, flow_name="child", project_name=project)
    ids = [
        send_create_flow_run(client, child, {"idempotency_key": f"k{i}", "parameters": {"x": i}, "labels": ["nowhere"]})
        for i in range(5)
    ]
    assert send_create_flow_run(client, child, {"idempotency_key": "k0", "parameters": {"x": 0}}) == ids[0]
    client.set_flow_run_state(ids[0], states.Success("done"))
    with requests_counter() as counted:
        rows = read_flow_runs(client, ids + [str(uuid.uuid4())], with_logs=True)
    assert counted.requests == 1
    assert set(rows) == set(ids)
    assert set(rows[ids[1]]) == {"id", "name", "flow_id", "version", "labels", "serialized_state", "state_timestamp",
                                 "states", "parameters", "context", "updated", "run_config", "logs"}
    assert [v.flow_run_id for v in views_from_rows(rows, [ids[1], ids[0]])] == [ids[1], ids[0]]
    assert rows[ids[0]]["serialized_state"]["type"] == "Success"
    with requests_counter() as counted:
        views = flow_run_views(client, [ids[2], ids[0], ids[2]])
    assert counted.requests == 1
    assert [v.flow_run_id for v in views] == [ids[2], ids[0], ids[2]]
    assert views[1].state.is_successful() and views[0].parameters["x"] == 2
    with pytest.raises(FlowRunNotFoundError):
        flow_run_views(client, [str(uuid.uuid4())])


def test_look_up_with_a_key_finds_the_run_of_any_version_of_the_group(client, project, requests_counter):
    register(project)
    child = find_child_flow(client, flow_name="child", project_name=project, idempotency_key="key-1")
    assert child.existing_run_id is None
    run_id = send_create_flow_run(client, child, {"idempotency_key": "key-1", "parameters": {"x": 1}})
    register(project)  # a new version; the one the run was created for is archived
    with requests_counter() as counted:
        again = find_child_flow(client, flow_name="child", project_name=project, idempotency_key="key-1")
    assert counted.requests == 1 and set(counted.fields) == {"flow", "tenant", "flow_run"}
    assert again.existing_run_id == run_id and again.flow_id != child.flow_id
    assert find_child_flow(client, flow_id=child.flow_id, idempotency_key="key-1").existing_run_id == run_id
    assert find_child_flow(client, flow_name="child", project_name=project, idempotency_key="key-2").existing_run_id is None


def test_a_log_cut_off_is_on_the_time_lines_were_stored_not_their_own(client, project, requests_counter):
    register(project)
    child = find_child_flow(client, flow_name="child", project_name=project)
    run_id = send_create_flow_run(client, child, {"idempotency_key": "logs-1", "parameters": {"x": 1}})

    def write(i, stamp):
        client.write_run_logs([{"flow_run_id": run_id, "timestamp": stamp, "level": "INFO", "message": f"line {i}"}])

    write(0, "2030-01-01T00:00:05+00:00")
    with requests_counter() as counted:
        first = read_flow_runs(client, [run_id], with_logs=True, logs_tail=10)
    [seen] = first[run_id]["logs"]
    write(1, "2029-01-01T00:00:00+00:00")  # uploaded late: its own timestamp is older
    with requests_counter() as more:
        again = read_flow_runs(client, [run_id], with_logs=True, logs_after=seen["created"])
    assert counted.requests == more.requests == 1
    assert set(seen) == {"id", "timestamp", "created", "level", "message"}
    assert [log["message"] for log in again[run_id]["logs"]] == ["line 1"]


def test_any_number_of_runs_is_read_in_chunks(client, project, requests_counter, monkeypatch):
    from tasks_flowrun.client import flow_runs

    register(project)
    child = find_child_flow(client, flow_name="child", project_name=project)
    ids = [send_create_flow_run(client, child, {"idempotency_key": f"c{i}", "parameters": {"x": i}}) for i in range(7)]
    monkeypatch.setattr(flow_runs, "READ_CHUNK", 3)
    with requests_counter() as counted:
        rows = read_flow_runs(client, ids)
        views = flow_run_views(client, ids)
    assert counted.requests == 3 + 3 and set(rows) == set(ids)
    assert [v.flow_run_id for v in views] == ids
