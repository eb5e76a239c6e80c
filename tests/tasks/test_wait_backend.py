"""WaitForFlowRun against the real embedded backend; child states are set through the API."""
import logging
import time
import uuid
from typing import List

import pendulum
import prefect
import pytest
from prefect import Flow
from prefect.backend import FlowRunView
from prefect.engine import state as states

from tasks_flowrun import WaitForFlowRun, create_flow_run, wait_for_flow_run
from tasks_flowrun.tasks import wait_loop
from tasks_flowrun.tasks.errors import WaitTimeoutError
from tests.helpers import wait_until
from tests.tasks.conftest import register_script


@pytest.fixture
def make_children(client, project):
    """Create `n` runs of the child flow (nothing deploys them unless labels fit an agent)."""
    register_script("child.py", project)

    def make(n: int, labels=("nowhere",), final=None) -> List[str]:
        with prefect.context(flow_run_id=str(uuid.uuid4()), flow_run_name="p", task_slug="t"):
            ids = []
            for i in range(n):
                with prefect.context(map_index=i):
                    ids.append(
                        create_flow_run.run(
                            flow_name="child", project_name=project, parameters={"x": i}, labels=list(labels)
                        )
                    )
        if final is not None:
            for run_id in ids:
                client.set_flow_run_state(run_id, final)
        return ids

    return make


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int = logging.DEBUG) -> List[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]


@pytest.fixture
def captured():
    handler = Captured()
    logger = logging.getLogger("prefect")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_one_poll_of_twenty_children_is_one_request(make_children, requests_counter):
    ids = make_children(20, final=states.Success("done"))
    with requests_counter() as counted:
        views = wait_for_flow_run.run(flow_run_id=list(reversed(ids)))
    # the runs registered for pushed changes (which gives the token), then one read: all 20
    # finished, and the read carries what the 20 views are built from
    assert counted.requests == 2 and counted.fields == {"watch": 1, "flow_run": 1}
    assert [v.flow_run_id for v in views] == list(reversed(ids))
    assert all(isinstance(v, FlowRunView) and v.state.is_successful() for v in views)


def test_every_poll_is_one_request_and_timeout_is_wall_clock(make_children, requests_counter, polling_only):
    ids = make_children(20)  # labels fit no agent: they stay Scheduled
    started = time.monotonic()
    with requests_counter() as counted, pytest.raises(WaitTimeoutError) as caught:
        wait_for_flow_run.run(flow_run_id=ids, max_duration=1.6, stream_states=True, stream_logs=True)
    elapsed = time.monotonic() - started
    assert 1.6 <= elapsed < 4.0
    assert counted.fields == {"flow_run": counted.requests}  # each request is one flow_run query
    assert len(counted.texts) == 1  # the same document every poll: the ids are variables
    assert 3 <= counted.requests <= 5  # polls every 0.5 s during the first 10 s
    message = str(caught.value)
    assert "p-child-0" in message and ids[0] in message and "in state Scheduled" in message


FINAL_STATES = [  # (child's final state, task state by default, task state mirrored)
    (states.Success("ok"), states.Success, states.Success),
    (states.Failed("boom"), states.Failed, states.Failed),
    (states.Cancelled("stopped"), states.Failed, states.Cancelled),
    (states.TimedOut("slow"), states.Failed, states.TimedOut),
    (states.Skipped("skip"), states.Failed, states.Skipped),
    (states.TriggerFailed("upstream"), states.TriggerFailed, states.TriggerFailed),
]


@pytest.mark.parametrize("final, expected, mirrored", FINAL_STATES, ids=[type(s[0]).__name__ for s in FINAL_STATES])
def test_raise_final_state_fails_unless_success_or_mirrors_on_request(make_children, final, expected, mirrored):
    [child] = make_children(1, final=final)
    with Flow("waiting-parent") as flow:
        raising = WaitForFlowRun(raise_final_state=True, name="raising")(child)
        mirroring = WaitForFlowRun(raise_final_state=True, mirror_final_state=True, name="mirroring")(child)
        returning = WaitForFlowRun(raise_final_state=False, name="returning")(child)
    result = flow.run()
    assert type(result.result[raising]) is expected
    assert type(result.result[mirroring]) is mirrored
    message = f"Child flow run 'p-child-0' finished in state {type(final).__name__}: {final.message}"
    if isinstance(final, states.Cancelled):  # cancelled through the API: by a user, not with its parent
        message += (f" A user cancelled it ({child}), so a restart of this parent leaves it Cancelled: to run it "
                    f"again, restart that child (`tasks_flowrun.restart_flow_run({child!r})`, or Restart on its "
                    "page), then this parent.")
    assert result.result[raising].message == message
    assert result.result[returning].is_successful() and not result.result[returning].is_skipped()
    view = result.result[returning].result
    assert isinstance(view, FlowRunView) and type(view.state) is type(final)


def test_list_worst_state_wins_and_names_the_children(make_children, client):
    ids = make_children(3)
    for run_id, final in zip(ids, [states.Success(), states.Failed("x"), states.Cancelled("y")]):
        client.set_flow_run_state(run_id, final)
    with Flow("waiting-parent") as flow:
        waited = wait_for_flow_run(ids, raise_final_state=True)
    task_state = flow.run().result[waited]
    assert type(task_state) is states.Failed
    assert "2 of 3" in task_state.message
    assert "'p-child-1' (Failed)" in task_state.message and "'p-child-2' (Cancelled)" in task_state.message
    assert [v.flow_run_id for v in task_state.result] == ids


def test_streams_state_changes_and_logs_prefixed_by_child_name(make_children, client, captured):
    [child] = make_children(1)
    client.set_flow_run_state(child, states.Running("go"))
    client.write_run_logs(
        [
            {
                "flow_run_id": child,
                "name": "child-logger",
                "message": "hello from the child",
                "level": "WARNING",
                "timestamp": pendulum.now("UTC").isoformat(),
            }
        ]
    )
    client.set_flow_run_state(child, states.Success("finished"))
    view = wait_for_flow_run.run(flow_run_id=child, stream_states=True, stream_logs=True)
    assert view.state.is_successful()
    lines = captured.messages()
    assert "p-child-0: entered state <Scheduled>: Flow run scheduled." in lines
    assert "p-child-0: entered state <Running>: go" in lines
    assert "p-child-0: entered state <Success>: finished" in lines
    assert "p-child-0: hello from the child" in captured.messages(logging.WARNING)


def test_warns_when_no_agent_has_matching_labels(make_children, client, captured, agent, monkeypatch):
    wait_until(lambda: client.graphql({"query": {"agent": {"id"}}}).data.agent, timeout=60, what="agent registered")
    monkeypatch.setattr(wait_loop, "AGENT_WARNING_AFTER", 0.5)
    [child] = make_children(1, labels=["nowhere-xyz"])
    with pytest.raises(WaitTimeoutError):
        wait_for_flow_run.run(flow_run_id=child, max_duration=1.5)
    warnings = captured.messages(logging.WARNING)
    assert any(
        "p-child-0: not picked up by an agent" in w and "No agent accepts runs with labels ['nowhere-xyz']" in w
        for w in warnings
    ), warnings


def test_empty_list_returns_at_once(requests_counter):
    with requests_counter() as counted:
        assert wait_for_flow_run.run(flow_run_id=[]) == []
    assert counted.requests == 0
