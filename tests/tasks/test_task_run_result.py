"""GetTaskRunResult reads a child's task results on the real backend, run by the real agent."""
import uuid

import prefect
import pytest
from prefect import Flow

from tasks_flowrun import GetTaskRunResult, get_task_run_result
from tasks_flowrun.tasks.errors import FlowRunNotFoundError, TaskResultUnavailableError, TaskRunNotFoundError
from tests.tasks.conftest import register_script, wait_finished

pytestmark = pytest.mark.e2e


@pytest.fixture
def finished_child(client, project, agent) -> str:
    """A run of `result_child.py` (x=21), finished Success through the agent."""
    flow_id = register_script("result_child.py", project)
    run_id = client.create_flow_run(flow_id=flow_id, parameters={"x": 21})
    assert wait_finished(run_id, timeout=180).state.is_successful()
    return run_id


def test_loads_prefect_local_and_mapped_results_and_names_what_is_missing(finished_child, requests_counter):
    with requests_counter() as counted:
        assert get_task_run_result.run(flow_run_id=finished_child, task_slug="double-1") == 42
    assert counted.requests == 1  # the task run was finished: one poll, then a read of its location
    assert get_task_run_result.run(flow_run_id=finished_child, task_slug="to_file-1") == {"x": 21, "items": [21, 22]}
    assert get_task_run_result.run(flow_run_id=finished_child, task_slug="square-1", map_index=2) == 9
    assert get_task_run_result.run(flow_run_id=finished_child, task_slug="square-1") == [1, 4, 9]

    with pytest.raises(TaskRunNotFoundError) as missing:
        get_task_run_result.run(flow_run_id=finished_child, task_slug="nope-1")
    message = str(missing.value)
    assert "No task with slug 'nope-1' in flow run" in message and finished_child in message
    assert message.endswith("known slugs: Constant[list]-1, double-1, square-1, to_file-1, unsaved-1, x.")

    with pytest.raises(TaskRunNotFoundError, match=r"without a task run 'square-1\[7\]'"):
        get_task_run_result.run(flow_run_id=finished_child, task_slug="square-1", map_index=7)

    with pytest.raises(TaskResultUnavailableError) as unsaved:
        get_task_run_result.run(flow_run_id=finished_child, task_slug="unsaved-1")
    assert "'unsaved-1' of flow run" in str(unsaved.value)
    assert "finished Success but its result was not persisted" in str(unsaved.value)
    assert "PrefectResult()" in str(unsaved.value)

    with pytest.raises(FlowRunNotFoundError):
        get_task_run_result.run(flow_run_id=str(uuid.uuid4()), task_slug="double-1")


def test_waits_for_the_task_run_inside_a_parent_flow(client, project, agent):
    flow_id = register_script("result_child.py", project)
    run_id = client.create_flow_run(flow_id=flow_id, parameters={"x": 5})  # not finished yet
    with Flow("reading-parent") as flow:
        value = GetTaskRunResult(task_slug="double-1", poll_time=0.5, max_duration=180)(run_id)
    state = flow.run()
    assert state.is_successful(), state.result
    assert state.result[value].result == 10


def test_bad_arguments_fail_before_anything_is_sent(requests_counter):
    run_id = str(uuid.uuid4())
    with requests_counter() as counted:
        with pytest.raises(ValueError, match="`task_slug` is required"):
            get_task_run_result.run(flow_run_id=run_id, task_slug="")
        with pytest.raises(ValueError, match="`flow_run_id` must be a UUID"):
            get_task_run_result.run(flow_run_id="not-an-id", task_slug="a-1")
        with pytest.raises(ValueError, match="`map_index`"):
            get_task_run_result.run(flow_run_id=run_id, task_slug="a-1", map_index=-2)
        with pytest.raises(ValueError, match="`poll_time` must be at least"):
            get_task_run_result.run(flow_run_id=run_id, task_slug="a-1", poll_time=0)
        with prefect.context(flow_run_id=run_id), pytest.raises(ValueError, match="the flow run this task belongs to"):
            get_task_run_result.run(flow_run_id=run_id, task_slug="a-1")
    assert counted.requests == 0


def test_a_result_class_prefect_cannot_rebuild_gives_a_clear_error():
    from prefect.engine.state import Success

    from tasks_flowrun.tasks.results import load_task_run_result

    serialized = Success("done").serialize()
    serialized["_result"] = {"type": "mycompany.results.VaultResult", "location": "vault://x"}
    with pytest.raises(TaskResultUnavailableError, match="'mycompany.results.VaultResult', which Prefect cannot"):
        load_task_run_result({"serialized_state": serialized}, "'t-1' of flow run 'r'")
