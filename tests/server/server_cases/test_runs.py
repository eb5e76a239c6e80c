"""Prefect Server's tests/graphql/test_runs.py, over HTTP: creating flow runs, task runs (get or
create), heartbeats, deleting runs, idempotency keys, the agent queue, run labels and names,
mapped children."""
import uuid

import pendulum
import prefect
import pytest
from prefect.engine.state import Failed, Retrying, Running, Scheduled, Success

from tests.server.server_cases.calls import (
    count, create_flow, error, get_or_create_task_run, mutate, ok, refused, row, set_flow_run_state,
    set_task_run_state,
)

FLOW_RUN_FIELDS = "flow_id labels parameters scheduled_start_time auto_scheduled context name run_config"


def create_run(gql, **input_):
    return mutate(gql, "create_flow_run", input_, "id")


def flow_run(gql, flow_run_id):
    found = row(gql, "flow_run", flow_run_id, FLOW_RUN_FIELDS)
    found["scheduled_start_time"] = pendulum.parse(found["scheduled_start_time"])
    return found


# --- TestCreateFlowRun ------------------------------------------------------------------------------

def test_create_flow_run(gql, flow_id):
    dt = pendulum.now("utc").add(hours=1)
    run_id = ok(create_run(gql, flow_id=flow_id, parameters={"x": 1}, context={"a": 2},
                           scheduled_start_time=dt.isoformat()), "create_flow_run")["id"]
    run = flow_run(gql, run_id)
    assert run["flow_id"] == flow_id
    assert run["labels"] == []
    assert run["scheduled_start_time"] == dt
    assert run["parameters"] == {"x": 1}
    assert run["auto_scheduled"] is False
    assert run["context"] == {"a": 2}


def test_create_flow_run_with_labels(gql, flow_id):
    run_id = ok(create_run(gql, flow_id=flow_id, labels=["a", "b", "c"]), "create_flow_run")["id"]
    run = flow_run(gql, run_id)
    assert run["flow_id"] == flow_id and run["labels"] == ["a", "b", "c"]


def test_create_flow_run_with_run_config(gql, flow_id):
    run_config = {"type": "UniversalRun", "labels": []}
    run_id = ok(create_run(gql, flow_id=flow_id, run_config=run_config), "create_flow_run")["id"]
    run = flow_run(gql, run_id)
    assert run["flow_id"] == flow_id and run["run_config"] == run_config


def test_create_flow_run_with_version_group_id(gql, flow_id):
    dt = pendulum.now("utc").add(hours=1)
    version_group_id = row(gql, "flow", flow_id, "version_group_id")["version_group_id"]
    run_id = ok(create_run(gql, flow_id=None, version_group_id=version_group_id, parameters={"x": 1},
                           context={"a": 2}, scheduled_start_time=dt.isoformat()), "create_flow_run")["id"]
    run = flow_run(gql, run_id)
    assert run["flow_id"] == flow_id
    assert run["scheduled_start_time"] == dt
    assert run["parameters"] == {"x": 1}
    assert run["auto_scheduled"] is False
    assert run["context"] == {"a": 2}


def test_create_flow_run_with_run_name(gql, flow_id):
    dt = pendulum.now("utc").add(hours=1)
    run_id = ok(create_run(gql, flow_id=flow_id, parameters={"x": 1}, context={"a": 2},
                           scheduled_start_time=dt.isoformat(), flow_run_name="named flow run"),
                "create_flow_run")["id"]
    run = flow_run(gql, run_id)
    assert run["flow_id"] == flow_id
    assert run["scheduled_start_time"] == dt
    assert run["parameters"] == {"x": 1}
    assert run["auto_scheduled"] is False
    assert run["context"] == {"a": 2}
    assert run["name"] == "named flow run"


def test_create_flow_run_fails_for_archived_flow(gql, flow_id):
    assert ok(mutate(gql, "archive_flow", {"flow_id": flow_id}), "archive_flow")["success"]
    assert "archived" in refused(create_run(gql, flow_id=flow_id, parameters={"x": 1}), "create_flow_run")
    assert count(gql, "flow_run", {"flow_id": {"_eq": flow_id}}) == 0


def test_create_flow_run_without_parameters_raises_error(gql, project_id):
    flow_id = create_flow(gql, project_id, prefect.Flow(name="test", tasks=[prefect.Parameter("x")]).serialize())
    assert "Required parameters" in refused(create_run(gql, flow_id=flow_id), "create_flow_run")
    assert count(gql, "flow_run", {"flow_id": {"_eq": flow_id}}) == 0


# --- TestGetOrCreateTaskRunInfo ---------------------------------------------------------------------

INFO_FIELDS = "id version state serialized_state"


def test_get_existing_task_run_id(gql, task_run_id, task_id, flow_run_id):
    body = mutate(gql, "get_or_create_task_run_info", {"flow_run_id": flow_run_id, "task_id": task_id}, INFO_FIELDS)
    assert ok(body, "get_or_create_task_run_info") == row(gql, "task_run", task_run_id, INFO_FIELDS)


def test_get_new_task_run_id(gql, task_run_id, task_id, flow_run_id):
    where = {"flow_run_id": {"_eq": flow_run_id}, "task_id": {"_eq": task_id}, "map_index": {"_eq": 12}}
    assert count(gql, "task_run", where) == 0
    body = mutate(gql, "get_or_create_task_run_info", {"flow_run_id": flow_run_id, "task_id": task_id,
                                                       "map_index": 12}, INFO_FIELDS)
    created = ok(body, "get_or_create_task_run_info")
    found = gql.data('{ task_run(where: {flow_run_id: {_eq: "%s"}, task_id: {_eq: "%s"}, map_index: {_eq: 12}}) '
                     '{ id } }' % (flow_run_id, task_id))["task_run"]
    assert [t["id"] for t in found] == [created["id"]]
    assert created["id"] != task_run_id and created["state"] == "Pending"


# --- TestGetTaskRunInfo -----------------------------------------------------------------------------

TASK_RUN_INFO = "query($task_run_id: UUID!) { get_task_run_info(task_run_id: $task_run_id) { %s } }" % INFO_FIELDS


def test_get_task_run_info(gql, task_run_id):
    output = gql.data(TASK_RUN_INFO, {"task_run_id": task_run_id})["get_task_run_info"]
    assert output["id"] == task_run_id
    assert output["version"] == 1
    assert output["serialized_state"]["type"] == "Pending"
    assert output["state"] == "Pending"

    set_task_run_state(gql, task_run_id, Success("hi"))
    output = gql.data(TASK_RUN_INFO, {"task_run_id": task_run_id})["get_task_run_info"]
    assert output["version"] == 2
    assert output["serialized_state"]["type"] == "Success"
    assert output["state"] == "Success"
    assert output["serialized_state"]["message"] == "hi"


def test_get_task_run_info_handles_bad_ids(gql):
    body = gql.post(TASK_RUN_INFO, {"task_run_id": str(uuid.uuid4())}).json()
    assert error(body) == "Invalid task run ID"
    assert body["data"]["get_task_run_info"] is None


# --- TestGetOrCreateTaskRun -------------------------------------------------------------------------

def task_runs_of(gql, flow_run_id):
    return count(gql, "task_run", {"flow_run_id": {"_eq": flow_run_id}})


def test_get_or_create_task_run(gql, task_run_id, task_id, flow_run_id):
    before = task_runs_of(gql, flow_run_id)
    body = mutate(gql, "get_or_create_task_run", {"flow_run_id": flow_run_id, "task_id": task_id}, "id")
    assert ok(body, "get_or_create_task_run")["id"] == task_run_id
    assert task_runs_of(gql, flow_run_id) == before


def test_get_or_create_task_run_new_task_run(gql, task_run_id, task_id, flow_run_id):
    before = task_runs_of(gql, flow_run_id)
    body = mutate(gql, "get_or_create_task_run", {"flow_run_id": flow_run_id, "task_id": task_id, "map_index": 10},
                  "id")
    new_id = ok(body, "get_or_create_task_run")["id"]
    assert new_id != task_run_id
    assert task_runs_of(gql, flow_run_id) == before + 1
    assert row(gql, "task_run", new_id, "map_index state task_id") == {"map_index": 10, "state": "Pending",
                                                                       "task_id": task_id}


# --- TestUpdateFlowRunHeartbeat, TestUpdateTaskRunHeartbeat -------------------------------------------

def test_update_flow_run_heartbeat(gql, flow_run_id):
    dt = pendulum.now()
    body = mutate(gql, "update_flow_run_heartbeat", {"flow_run_id": flow_run_id})
    assert ok(body, "update_flow_run_heartbeat")["success"] is True
    assert dt < pendulum.parse(row(gql, "flow_run", flow_run_id, "heartbeat")["heartbeat"])


def test_update_flow_run_heartbeat_invalid_id_returns_success(gql):
    body = mutate(gql, "update_flow_run_heartbeat", {"flow_run_id": str(uuid.uuid4())})
    assert ok(body, "update_flow_run_heartbeat")["success"] is True


def test_update_task_run_heartbeat(gql, task_run_id):
    dt = pendulum.now()
    body = mutate(gql, "update_task_run_heartbeat", {"task_run_id": task_run_id})
    assert ok(body, "update_task_run_heartbeat")["success"] is True
    assert dt < pendulum.parse(row(gql, "task_run", task_run_id, "heartbeat")["heartbeat"])


def test_update_task_run_heartbeat_invalid_id_is_still_success(gql):
    body = mutate(gql, "update_task_run_heartbeat", {"task_run_id": str(uuid.uuid4())})
    assert ok(body, "update_task_run_heartbeat")["success"] is True


# --- TestDeleteFlowRun ------------------------------------------------------------------------------

def test_delete_flow_run(gql, flow_run_id, task_run_id):
    assert ok(mutate(gql, "delete_flow_run", {"flow_run_id": flow_run_id}), "delete_flow_run")["success"] is True
    assert row(gql, "flow_run", flow_run_id, "id") is None
    assert row(gql, "task_run", task_run_id, "id") is None
    assert count(gql, "flow_run_state", {"flow_run_id": {"_eq": flow_run_id}}) == 0


def test_delete_flow_run_bad_id(gql):
    assert ok(mutate(gql, "delete_flow_run", {"flow_run_id": str(uuid.uuid4())}), "delete_flow_run")["success"] is False


# --- TestCreateRunIdempotencyKey --------------------------------------------------------------------

def test_create_idempotent_run(gql, flow_id):
    dt = pendulum.now("utc").add(hours=1)
    first = ok(create_run(gql, flow_id=flow_id, parameters={"x": 1}, context={"a": 2},
                          scheduled_start_time=dt.isoformat(), idempotency_key="xyz"), "create_flow_run")["id"]
    second = ok(create_run(gql, flow_id=flow_id, idempotency_key="xyz"), "create_flow_run")["id"]
    assert first == second
    assert count(gql, "flow_run", {"flow_id": {"_eq": flow_id}}) == 1


# --- TestGetRunsInQueue -----------------------------------------------------------------------------
# Server's tests run each case in a fresh tenant; here the session's backend is shared, so the
# labeled runs carry labels unique to the test, and the unlabeled run is due long ago (the oldest
# run an unlabeled agent is offered, within the 25 the queue answers).

LONG_AGO = pendulum.datetime(2000, 1, 1, tz="UTC")


def queue(gql, tenant_id, **input_):
    body = mutate(gql, "get_runs_in_queue", {"tenant_id": tenant_id, **input_}, "flow_run_ids")
    return ok(body, "get_runs_in_queue")["flow_run_ids"]


def test_get_runs_in_queue(gql, tenant_id, flow_run_id):
    set_flow_run_state(gql, flow_run_id, Scheduled(start_time=LONG_AGO))
    assert flow_run_id in queue(gql, tenant_id)


def test_get_runs_in_queue_uses_labels(gql, tenant_id, flow_run_id, labeled_flow_run_id, labels):
    set_flow_run_state(gql, labeled_flow_run_id, Scheduled(start_time=pendulum.now("utc").subtract(days=1)))
    found = queue(gql, tenant_id, labels=labels)
    assert labeled_flow_run_id in found
    assert flow_run_id not in found


def test_get_runs_in_queue_uses_labels_and_filters_for_subset(gql, tenant_id, flow_run_id, labeled_flow_run_id,
                                                              labels):
    set_flow_run_state(gql, labeled_flow_run_id, Scheduled(start_time=pendulum.now("utc").subtract(days=1)))
    found = queue(gql, tenant_id, labels=labels + ["extra"])
    assert labeled_flow_run_id in found
    assert flow_run_id not in found


def test_get_runs_in_queue_uses_labels_for_task_runs(gql, tenant_id, flow_run_id, labeled_flow_run_id,
                                                     labeled_task_run_id, labels):
    set_task_run_state(gql, labeled_task_run_id, Scheduled(start_time=pendulum.now("utc").subtract(days=1)))
    found = queue(gql, tenant_id, labels=labels)
    assert labeled_flow_run_id in found
    assert flow_run_id not in found


def test_get_runs_in_queue_before_certain_time(gql, tenant_id, flow_run_id):
    set_flow_run_state(gql, flow_run_id, Scheduled(start_time=pendulum.now("utc").subtract(days=1)))
    found = queue(gql, tenant_id, before=pendulum.now("utc").subtract(days=2).isoformat())
    assert flow_run_id not in found


def test_multiple_runs_in_queue_before_certain_time(gql, tenant_id, flow_id, labels):
    now = pendulum.now("utc")
    mine = {gql.create_flow_run(flow_id=flow_id, labels=labels, scheduled_start_time=now.add(minutes=i).isoformat())
            for i in range(10)}
    for i in range(10):
        found = queue(gql, tenant_id, labels=labels, before=pendulum.now("utc").add(minutes=i).isoformat())
        assert len(found) == i + 1 and set(found) <= mine


def test_running_flow_run_with_a_due_task_run_is_in_the_queue(gql, tenant_id, flow_run_id, task_run_id, labels):
    """Beyond Server's own file: the second half of Server's queue rule (a Running flow run whose
    task run is due, as after a task's retry is scheduled)."""
    mutate(gql, "set_flow_run_labels", {"flow_run_id": flow_run_id, "labels": labels})
    set_flow_run_state(gql, flow_run_id, Running())
    assert flow_run_id not in queue(gql, tenant_id, labels=labels)
    set_task_run_state(gql, task_run_id, Retrying(start_time=pendulum.now("utc").subtract(minutes=1)))
    assert queue(gql, tenant_id, labels=labels) == [flow_run_id]
    assert queue(gql, tenant_id, labels=labels, before=pendulum.now("utc").subtract(minutes=2).isoformat()) == []


# --- TestSetFlowRunLabels, TestSetFlowRunName, TestSetTaskRunName ---------------------------------------

def test_set_flow_run_labels(gql, flow_run_id):
    assert row(gql, "flow_run", flow_run_id, "labels")["labels"] == []
    body = mutate(gql, "set_flow_run_labels", {"flow_run_id": flow_run_id, "labels": ["big", "boo"]})
    assert ok(body, "set_flow_run_labels")["success"] is True
    assert row(gql, "flow_run", flow_run_id, "labels")["labels"] == ["big", "boo"]


def test_set_flow_run_labels_to_empty(gql, labeled_flow_run_id):
    assert row(gql, "flow_run", labeled_flow_run_id, "labels")["labels"]
    body = mutate(gql, "set_flow_run_labels", {"flow_run_id": labeled_flow_run_id, "labels": []})
    assert ok(body, "set_flow_run_labels")["success"] is True
    assert row(gql, "flow_run", labeled_flow_run_id, "labels")["labels"] == []


def test_set_flow_run_name(gql, flow_run_id):
    assert row(gql, "flow_run", flow_run_id, "name")["name"] != "hello"
    assert ok(mutate(gql, "set_flow_run_name", {"flow_run_id": flow_run_id, "name": "hello"}),
              "set_flow_run_name")["success"] is True
    assert row(gql, "flow_run", flow_run_id, "name")["name"] == "hello"


def test_set_task_run_name(gql, task_run_id):
    assert row(gql, "task_run", task_run_id, "name")["name"] != "hello"
    assert ok(mutate(gql, "set_task_run_name", {"task_run_id": task_run_id, "name": "hello"}),
              "set_task_run_name")["success"] is True
    assert row(gql, "task_run", task_run_id, "name")["name"] == "hello"


def test_renaming_or_labelling_an_unknown_run_is_not_success(gql):
    """Beyond Server's own file: its setters answer whether a row was updated."""
    for mutation, input_ in (("set_flow_run_labels", {"flow_run_id": str(uuid.uuid4()), "labels": ["a"]}),
                             ("set_flow_run_name", {"flow_run_id": str(uuid.uuid4()), "name": "x"}),
                             ("set_task_run_name", {"task_run_id": str(uuid.uuid4()), "name": "x"})):
        assert ok(mutate(gql, mutation, input_), mutation)["success"] is False


# --- TestMappedChildren -----------------------------------------------------------------------------

MAPPED_CHILDREN = """query($task_run_id: UUID!) {
    mapped_children(task_run_id: $task_run_id) { min_start_time max_end_time state_counts }
}"""


@pytest.fixture
def mapped_children(gql, task_id, running_flow_run_id):
    run_ids = [get_or_create_task_run(gql, running_flow_run_id, task_id, map_index=i) for i in range(10)]
    for i in (0, 1, 2):
        set_task_run_state(gql, run_ids[i], Success())
    for i in (3, 4):
        set_task_run_state(gql, run_ids[i], Failed())
    set_task_run_state(gql, run_ids[5], Retrying())
    for i in (6, 7, 8):
        set_task_run_state(gql, run_ids[i], Running())
    # 9 stays Pending
    return run_ids


def test_query_mapped_children(gql, task_run_id, mapped_children):
    answer = gql.data(MAPPED_CHILDREN, {"task_run_id": task_run_id})["mapped_children"]
    assert answer["min_start_time"] is not None
    assert answer["max_end_time"] is not None
    assert answer["state_counts"] == {"Success": 3, "Failed": 2, "Retrying": 1, "Running": 3, "Pending": 1}


def test_query_mapped_children_with_non_mapped_parent_task_run_id(gql, task_run_id, mapped_children):
    answer = gql.data(MAPPED_CHILDREN, {"task_run_id": mapped_children[1]})["mapped_children"]
    assert answer == {"min_start_time": None, "max_end_time": None, "state_counts": {}}


def test_query_mapped_children_with_invalid_task_run_id(gql, task_run_id, mapped_children):
    answer = gql.data(MAPPED_CHILDREN, {"task_run_id": str(uuid.uuid4())})["mapped_children"]
    assert answer == {"min_start_time": None, "max_end_time": None, "state_counts": {}}
