"""Every bad input gives a clear error naming the argument, and creates nothing."""
import datetime

import prefect
import pytest

from tasks_flowrun import create_flow_run, wait_for_flow_run
from tasks_flowrun.tasks.errors import (
    AmbiguousFlowError,
    ArchivedFlowError,
    BackendRejectedError,
    FlowNotFoundError,
    FlowRunNotFoundError,
)
from tests.tasks.conftest import count_runs_a_test_could_make, register_script

PARENT = {
    "flow_run_id": "9f1c6a52-0d55-4f3c-8a43-3b0d3f1b9a11",
    "flow_run_name": "bad-inputs-parent",
    "task_slug": "create_flow_run-1",
}
RANDOM_ID = "5d8b1a0e-3c55-4b8e-9a55-0c0ffee0c0de"


@pytest.fixture
def flows(client, project):
    """Two projects with a flow named 'child' (ambiguous), and an archived version."""
    other = f"{project}-other"
    client.create_project(other)
    archived = register_script("child.py", project)
    live = register_script("child.py", project)  # archives the first version
    register_script("child.py", other)
    return {"project": project, "other": other, "archived": archived, "live": live}


def create(**kwargs):
    return lambda f: create_flow_run.run(**{k: (v(f) if callable(v) else v) for k, v in kwargs.items()})


def wait(**kwargs):
    return lambda f: wait_for_flow_run.run(**kwargs)


CASES = [
    # (id, call, error type, message fragment)
    ("both-id-and-name", create(flow_id=RANDOM_ID, flow_name="child"), ValueError, "exactly one of"),
    ("id-and-group-id", create(flow_id=RANDOM_ID, flow_group_id=RANDOM_ID), ValueError, "got flow_id and flow_group_id"),
    ("no-identifier", create(parameters={"x": 1}), ValueError, "none of them was"),
    ("project-without-name", create(flow_id=RANDOM_ID, project_name="p"), ValueError, "`project_name` only narrows"),
    ("flow-id-not-uuid", create(flow_id="child"), ValueError, "`flow_id` must be a UUID"),
    ("unknown-name", create(flow_name="no-such-flow"), FlowNotFoundError, "No flow found for flow_name 'no-such-flow'"),
    ("unknown-project", create(flow_name="child", project_name="no-such-project"), FlowNotFoundError, "in project 'no-such-project'"),
    ("unknown-flow-id", create(flow_id=RANDOM_ID), FlowNotFoundError, f"flow_id {RANDOM_ID!r}"),
    ("ambiguous-name", create(flow_name="child", parameters={"x": 1}), AmbiguousFlowError, "Pass `project_name`"),
    ("archived-flow", create(flow_id=lambda f: f["archived"], parameters={"x": 1}), ArchivedFlowError, "is archived"),
    ("non-json-parameters", create(flow_name="child", parameters={"x": object()}), TypeError, "`parameters` must be JSON-serializable"),
    ("nan-parameter", create(flow_name="child", parameters={"x": float("nan")}), TypeError, "`parameters` must be JSON-serializable"),
    ("parameters-not-dict", create(flow_name="child", parameters=[1]), TypeError, "`parameters` must be a dict"),
    ("non-json-context", create(flow_name="child", parameters={"x": 1}, context={"k": {1, 2}}), TypeError, "`context` must be JSON"),
    (
        "missing-required-parameter",
        create(flow_name="child", project_name=lambda f: f["project"], parameters={"fail": False}),
        BackendRejectedError,
        "Required parameters were not supplied",
    ),
    ("bad-time-string", create(flow_name="child", scheduled_start_time="next tuesday"), ValueError, "not an ISO-8601"),
    ("negative-delay", create(flow_name="child", scheduled_start_time=datetime.timedelta(seconds=-5)), ValueError, "negative delay"),
    ("time-wrong-type", create(flow_name="child", scheduled_start_time=60), TypeError, "`scheduled_start_time` must be"),
    ("labels-not-strings", create(flow_name="child", labels=["ok", 3]), TypeError, "`labels` must contain only strings"),
    ("labels-a-string", create(flow_name="child", labels="gpu"), TypeError, "not a single string"),
    ("run-config-dict", create(flow_name="child", run_config={"type": "LocalRun"}), TypeError, "`run_config` must be a prefect RunConfig"),
    ("empty-run-name", create(flow_name="child", run_name=""), ValueError, "`run_name` must not be empty"),
    ("wait-poll-too-fast", create(flow_name="child", wait=True, poll_interval=0.1), ValueError, "`poll_interval` must be at least"),
    ("wait-unknown-id", wait(flow_run_id=RANDOM_ID), FlowRunNotFoundError, RANDOM_ID),
    ("wait-own-id", wait(flow_run_id=PARENT["flow_run_id"]), ValueError, "a run cannot wait for itself"),
    ("wait-not-an-id", wait(flow_run_id="child-run"), ValueError, "`flow_run_id` must be a UUID"),
    ("wait-no-id", wait(), ValueError, "`flow_run_id` is required"),
    ("wait-negative-duration", wait(flow_run_id=RANDOM_ID, max_duration=-1), ValueError, "`max_duration` must not be negative"),
    ("wait-poll-too-fast", wait(flow_run_id=RANDOM_ID, poll_interval=0.1), ValueError, "`poll_interval` must be at least"),
    ("wait-bad-poll-range", wait(flow_run_id=RANDOM_ID, poll_interval=5, max_poll_interval=1), ValueError, "must not be smaller"),
]


def test_the_table_is_large_enough():
    assert len(CASES) >= 15


@pytest.mark.parametrize("call, error, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error_and_creates_nothing(client, flows, call, error, fragment):
    places = ("child", [flows["project"], flows["other"]])
    before = count_runs_a_test_could_make(client, *places)
    with prefect.context(**PARENT):
        with pytest.raises(error) as caught:
            call(flows)
    assert fragment in str(caught.value)
    assert count_runs_a_test_could_make(client, *places) == before
