"""Prefect Server's tests/graphql/test_states.py, over HTTP: set_flow_run_states,
set_task_run_states (versions, several at once, a failing one, results, the flow run's state,
payload size, the Submitted lock) and cancel_flow_run."""
import uuid

import pytest
from prefect.engine.results import PrefectResult
from prefect.engine.state import Cancelled, Retrying, Running, Submitted, Success

from tests.server.server_cases.calls import error, mutate, ok, refused, row, set_flow_run_state

STATES_FIELDS = "states { id status message }"


def set_flow_run_states(gql, *states):
    return mutate(gql, "set_flow_run_states", {"states": list(states)}, STATES_FIELDS)


def set_task_run_states(gql, *states):
    return mutate(gql, "set_task_run_states", {"states": list(states)}, STATES_FIELDS)


def version_and_state(gql, table, id_):
    return row(gql, table, id_, "version state")


def large_nonsense_state():
    """Not a state at all, and over Server's 1 MB limit for a state (small enough for one request)."""
    return {str(i): "x" * 600_000 for i in range(2)}


# --- TestSetFlowRunStates ---------------------------------------------------------------------------

def test_set_flow_run_state(gql, flow_run_id):
    body = set_flow_run_states(gql, {"flow_run_id": flow_run_id, "state": Running().serialize()})
    assert ok(body, "set_flow_run_states")["states"] == [{"id": flow_run_id, "status": "SUCCESS", "message": None}]
    assert version_and_state(gql, "flow_run", flow_run_id) == {"version": 2, "state": "Running"}


def test_set_flow_run_state_with_version(gql, flow_run_id):
    body = set_flow_run_states(gql, {"flow_run_id": flow_run_id, "version": 1, "state": Running().serialize()})
    assert ok(body, "set_flow_run_states")["states"] == [{"id": flow_run_id, "status": "SUCCESS", "message": None}]
    assert version_and_state(gql, "flow_run", flow_run_id) == {"version": 2, "state": "Running"}


def test_set_multiple_flow_run_states(gql, flow_run_id, flow_run_id_2, flow_run_id_3):
    body = set_flow_run_states(
        gql,
        {"flow_run_id": flow_run_id, "state": Running().serialize()},
        {"flow_run_id": flow_run_id_2, "state": Success().serialize()},
        {"flow_run_id": flow_run_id_3, "state": Retrying().serialize()},
    )
    assert ok(body, "set_flow_run_states")["states"] == [
        {"id": flow_run_id, "status": "SUCCESS", "message": None},
        {"id": flow_run_id_2, "status": "SUCCESS", "message": None},
        {"id": flow_run_id_3, "status": "SUCCESS", "message": None},
    ]
    assert version_and_state(gql, "flow_run", flow_run_id) == {"version": 2, "state": "Running"}
    assert version_and_state(gql, "flow_run", flow_run_id_2) == {"version": 3, "state": "Success"}
    assert version_and_state(gql, "flow_run", flow_run_id_3) == {"version": 4, "state": "Retrying"}


def test_set_multiple_flow_run_states_with_one_failed(gql, flow_run_id_3):
    bad_id = str(uuid.uuid4())
    body = set_flow_run_states(
        gql,
        {"flow_run_id": bad_id, "version": 100, "state": Success().serialize()},
        {"flow_run_id": flow_run_id_3, "version": 4, "state": Retrying().serialize()},
    )
    assert f"State update failed for flow run ID {bad_id}" in refused(body, "set_flow_run_states")


def test_set_flow_run_state_with_result(gql, flow_run_id):
    state = Success(result=PrefectResult(location="10"))
    body = set_flow_run_states(gql, {"flow_run_id": flow_run_id, "state": state.serialize()})
    assert ok(body, "set_flow_run_states")["states"][0]["id"] == flow_run_id
    assert version_and_state(gql, "flow_run", flow_run_id) == {"version": 2, "state": "Success"}
    assert row(gql, "flow_run", flow_run_id, "serialized_state")["serialized_state"]["_result"]["location"] == "10"


def test_set_flow_run_states_rejects_states_with_large_payloads(gql, flow_run_id, flow_run_id_2):
    body = set_flow_run_states(
        gql,
        {"flow_run_id": flow_run_id, "state": Running().serialize()},  # fine on its own
        {"flow_run_id": flow_run_id_2, "state": large_nonsense_state()},
    )
    assert "State payload is too large" in refused(body, "set_flow_run_states")
    assert version_and_state(gql, "flow_run", flow_run_id_2) == {"version": 2, "state": "Running"}


def test_set_flow_run_states_submitted_lock_on_same_flow_run_id(gql, flow_run_id):
    first = set_flow_run_states(gql, {"flow_run_id": flow_run_id, "state": Submitted().serialize()})
    second = set_flow_run_states(gql, {"flow_run_id": flow_run_id, "state": Submitted().serialize()})
    assert ok(first, "set_flow_run_states")["states"][0]["status"] == "SUCCESS"
    assert "State update failed: this run has already been submitted." in error(second)
    assert version_and_state(gql, "flow_run", flow_run_id) == {"version": 2, "state": "Submitted"}


# --- TestSetTaskRunStates ---------------------------------------------------------------------------

def test_set_task_run_state(gql, task_run_id, running_flow_run_id):
    body = set_task_run_states(gql, {"task_run_id": task_run_id, "state": Running().serialize()})
    assert ok(body, "set_task_run_states")["states"][0]["id"] == task_run_id
    assert version_and_state(gql, "task_run", task_run_id) == {"version": 2, "state": "Running"}


def test_set_task_run_state_with_version(gql, flow_id, task_run_id, running_flow_run_id):
    # Prefect Server has no version locking; this backend has it on by default (a stale
    # version 0 is refused: tests/server/test_version_locking.py), so it is off for this flow.
    assert ok(mutate(gql, "disable_flow_version_lock", {"flow_id": flow_id}), "disable_flow_version_lock")["success"]
    body = set_task_run_states(gql, {"task_run_id": task_run_id, "version": 0, "state": Running().serialize()})
    assert ok(body, "set_task_run_states")["states"][0]["id"] == task_run_id
    assert version_and_state(gql, "task_run", task_run_id) == {"version": 2, "state": "Running"}


def test_set_multiple_task_run_states(gql, task_run_id, task_run_id_2, task_run_id_3, running_flow_run_id):
    body = set_task_run_states(
        gql,
        {"task_run_id": task_run_id, "state": Running().serialize()},
        {"task_run_id": task_run_id_2, "state": Success().serialize()},
        {"task_run_id": task_run_id_3, "version": 1, "state": Retrying().serialize()},
    )
    assert ok(body, "set_task_run_states")["states"] == [
        {"id": task_run_id, "status": "SUCCESS", "message": None},
        {"id": task_run_id_2, "status": "SUCCESS", "message": None},
        {"id": task_run_id_3, "status": "SUCCESS", "message": None},
    ]
    assert version_and_state(gql, "task_run", task_run_id) == {"version": 2, "state": "Running"}
    assert version_and_state(gql, "task_run", task_run_id_2) == {"version": 3, "state": "Success"}
    assert version_and_state(gql, "task_run", task_run_id_3) == {"version": 3, "state": "Retrying"}


def test_set_multiple_task_run_states_with_one_failed(gql, task_run_id_3, running_flow_run_id):
    bad_id = str(uuid.uuid4())
    body = set_task_run_states(
        gql,
        {"task_run_id": bad_id, "version": 100, "state": Success().serialize()},
        {"task_run_id": task_run_id_3, "state": Retrying().serialize()},
    )
    assert f"State update failed for task run ID {bad_id}" in refused(body, "set_task_run_states")


def test_set_task_run_state_with_result(gql, task_run_id):
    state = Success(result=PrefectResult(location="10"))
    body = set_task_run_states(gql, {"task_run_id": task_run_id, "state": state.serialize()})
    assert ok(body, "set_task_run_states")["states"][0]["id"] == task_run_id
    assert version_and_state(gql, "task_run", task_run_id) == {"version": 2, "state": "Success"}


def test_set_task_run_state_with_correct_flow_run_state(gql, flow_run_id, task_run_id):
    body = set_flow_run_states(gql, {"flow_run_id": flow_run_id, "version": 1, "state": Running().serialize()})
    ok(body, "set_flow_run_states")
    body = set_task_run_states(gql, {"task_run_id": task_run_id, "state": Running().serialize(), "flow_run_version": 2})
    assert ok(body, "set_task_run_states")["states"][0]["id"] == task_run_id
    assert version_and_state(gql, "task_run", task_run_id) == {"version": 2, "state": "Running"}


def test_set_task_run_state_fails_with_wrong_flow_run_state(gql, flow_run_id_2, task_run_id):
    # task_run_id belongs to flow_run_id, which is still Scheduled
    set_flow_run_state(gql, flow_run_id_2, Running())
    body = set_task_run_states(gql, {"task_run_id": task_run_id, "state": Running().serialize(), "flow_run_version": 5})
    assert "State update failed" in error(body)
    assert version_and_state(gql, "task_run", task_run_id) == {"version": 1, "state": "Pending"}


def test_set_task_run_states_rejects_states_with_large_payloads(gql, task_run_id, task_run_id_2, running_flow_run_id):
    body = set_task_run_states(
        gql,
        {"task_run_id": task_run_id, "state": Running().serialize()},  # fine on its own
        {"task_run_id": task_run_id_2, "state": large_nonsense_state()},
    )
    assert "State payload is too large" in refused(body, "set_task_run_states")
    assert version_and_state(gql, "task_run", task_run_id_2) == {"version": 2, "state": "Running"}


def test_set_task_run_state_keeps_cached_inputs(gql, task_run_id, running_flow_run_id):
    """Beyond Server's own file: a new state without cached inputs keeps the old state's."""
    cached = {"x": {"type": "PrefectResult", "location": "1", "__version__": "1.4.1"}}
    retrying = Retrying().serialize()
    retrying["cached_inputs"] = cached
    ok(set_task_run_states(gql, {"task_run_id": task_run_id, "state": retrying}), "set_task_run_states")
    ok(set_task_run_states(gql, {"task_run_id": task_run_id, "state": Running().serialize()}), "set_task_run_states")
    assert row(gql, "task_run", task_run_id, "serialized_state")["serialized_state"]["cached_inputs"] == cached


# --- TestCancelFlowRun ------------------------------------------------------------------------------

@pytest.mark.parametrize("state,res_state,version", [
    (Running(), "Cancelling", 3),
    (Success(), "Success", 2),
    (Submitted(), "Cancelled", 3),
])
def test_cancel_flow_run(gql, flow_run_id, state, res_state, version):
    ok(set_flow_run_states(gql, {"flow_run_id": flow_run_id, "version": 1, "state": state.serialize()}),
       "set_flow_run_states")
    body = mutate(gql, "cancel_flow_run", {"flow_run_id": flow_run_id}, "state")
    assert ok(body, "cancel_flow_run")["state"] == res_state
    assert version_and_state(gql, "flow_run", flow_run_id) == {"version": version, "state": res_state}


def test_cancel_unknown_flow_run_is_an_error(gql):
    """Beyond Server's own file: Server answers "Invalid flow run ID" for an unknown run."""
    body = mutate(gql, "cancel_flow_run", {"flow_run_id": str(uuid.uuid4())}, "state")
    assert "Invalid flow run ID" in refused(body, "cancel_flow_run")


def test_cancelled_flow_run_cancels_its_unfinished_task_runs(gql, running_flow_run_id, task_run_id, task_run_id_2):
    """Beyond Server's own file: a Cancelled flow run cancels its task runs that are not finished."""
    other = gql.flow_run(running_flow_run_id)["task_runs"]
    finished = next(t["id"] for t in other if t["id"] != task_run_id)
    ok(set_task_run_states(gql, {"task_run_id": finished, "state": Success().serialize()}), "set_task_run_states")
    ok(set_flow_run_states(gql, {"flow_run_id": running_flow_run_id, "state": Cancelled().serialize()}),
       "set_flow_run_states")
    assert row(gql, "task_run", task_run_id, "state")["state"] == "Cancelled"
    assert row(gql, "task_run", finished, "state")["state"] == "Success"
    assert row(gql, "task_run", task_run_id_2, "state")["state"] == "Running"  # another flow run's
