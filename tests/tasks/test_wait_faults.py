"""A pushed wait does not trust its notifications alone: a lost one (the feed drops a
publish, as when a PostgreSQL listener reconnects) is made up for by the periodic check,
at a growing interval; a child deleted while waited on ends the wait with an error naming
it, whether its deletion was announced or not. Through the real backend."""
import threading
import time
import uuid

import prefect
import pytest
from prefect import Flow
from prefect.engine import state as states

from tasks_flowrun import WaitForFlowRun, create_flow_run, wait_for_flow_run
from tasks_flowrun.tasks import wait_loop
from tasks_flowrun.tasks.errors import FlowRunDeletedError, WaitTimeoutError
from tests.tasks.conftest import register_script

DELETE = "mutation($input: delete_flow_run_input!) { delete_flow_run(input: $input) { success } }"


@pytest.fixture
def children(client, project):
    register_script("child.py", project)

    def make(n):
        with prefect.context(flow_run_id=str(uuid.uuid4()), flow_run_name="p", task_slug="t"):
            ids = []
            for i in range(n):
                with prefect.context(map_index=i):
                    ids.append(create_flow_run.run(flow_name="child", project_name=project, parameters={"x": i},
                                                   labels=["nowhere"]))
        for run_id in ids:
            client.set_flow_run_state(run_id, states.Running("working"))
        return ids

    return make


@pytest.fixture
def lossy_feed(server, monkeypatch):
    """The backend's change feed loses every publish that concerns the runs in `lose`
    (once each), as a notification lost between server processes would be."""
    feed = server.app.state.db.changes
    real = feed.publish
    lose = set()
    lost = []

    def publish(changes):
        changes = list(changes)
        dropped = [c for c in changes if c[0] in lose]
        if dropped:
            lost.extend(dropped)
            lose.difference_update(c[0] for c in dropped)
            changes = [c for c in changes if c not in dropped]
        if changes:
            real(changes)

    monkeypatch.setattr(feed, "publish", publish)
    return lose, lost


def _finish_later(client, run_id, delay, final=None):
    done = {}

    def finish():
        time.sleep(delay)
        client.set_flow_run_state(run_id, final or states.Success("done"))
        done["at"] = time.monotonic()

    thread = threading.Thread(target=finish)
    thread.start()
    return thread, done


def test_a_lost_notification_costs_at_most_the_check_interval(children, client, lossy_feed, requests_counter):
    ids = children(3)
    lose, lost = lossy_feed
    for run_id in ids[:2]:
        client.set_flow_run_state(run_id, states.Success("done"))
    lose.add(ids[2])
    thread, done = _finish_later(client, ids[2], 1.0)
    with requests_counter() as counted:
        views = wait_for_flow_run.run(flow_run_id=ids, stream_states=False, max_duration=30)
    returned = time.monotonic()
    thread.join()
    assert [c[0] for c in lost] == [ids[2]]  # its change to Success was never announced
    assert all(v.state.is_successful() for v in views)
    # found by the first check, 2 s after the wait began (the change came at 1 s)
    assert returned - done["at"] < wait_loop.CHECK_FIRST + 1.0, returned - done["at"]
    # registration, the first read, one hold that timed out with the versions, one read
    waits = {k: v for k, v in counted.fields.items() if k != "set_flow_run_states"}  # the finishing thread's
    assert waits == {"watch": 2, "flow_run": 2}, counted.fields


def test_checks_come_at_a_growing_interval_on_a_quiet_wait(children, requests_counter):
    ids = children(2)
    started = time.monotonic()
    with requests_counter() as counted, pytest.raises(WaitTimeoutError):
        wait_for_flow_run.run(flow_run_id=ids, stream_states=False, max_duration=7.5)
    assert time.monotonic() - started < 10
    # holds of 2 s, then 4 s (each ending with a check of the versions), then the last 1.5 s;
    # nothing else: no poll
    assert counted.fields == {"watch": 1 + 3, "flow_run": 1}, counted.fields
    assert wait_loop.CHECK_FIRST * wait_loop.CHECK_FACTOR ** 5 >= wait_loop.CHECK_MAX == 60.0


def test_a_child_deleted_while_waited_on_ends_the_wait_naming_it(children, client):
    ids = children(2)
    client.set_flow_run_state(ids[0], states.Success("done"))
    threading.Timer(0.5, lambda: client.graphql(DELETE, variables={"input": {"flow_run_id": ids[1]}})).start()
    started = time.monotonic()
    with pytest.raises(FlowRunDeletedError) as caught:
        wait_for_flow_run.run(flow_run_id=ids, max_duration=30)
    assert time.monotonic() - started < 3  # announced: not found by a check
    assert str(caught.value) == f"Child flow run 'p-child-1' ({ids[1]}) was deleted while this task waited for it"


def test_an_unannounced_deletion_is_found_by_the_check(children, client, lossy_feed):
    [child] = children(1)
    lose, lost = lossy_feed
    lose.add(child)
    threading.Timer(0.5, lambda: client.graphql(DELETE, variables={"input": {"flow_run_id": child}})).start()
    started = time.monotonic()
    with pytest.raises(FlowRunDeletedError, match="was deleted while this task waited for it"):
        wait_for_flow_run.run(flow_run_id=child, max_duration=30)
    assert lost and time.monotonic() - started < wait_loop.CHECK_FIRST + 1.5


def test_a_waiting_task_fails_saying_its_child_was_deleted(children, client):
    [child] = children(1)
    threading.Timer(1.0, lambda: client.graphql(DELETE, variables={"input": {"flow_run_id": child}})).start()
    with Flow("waiting-parent") as flow:
        waited = WaitForFlowRun(raise_final_state=True, max_duration=30)(child)
    state = flow.run().result[waited]
    assert state.is_failed()
    assert "'p-child-0'" in str(state.message) and "was deleted while this task waited for it" in str(state.message)
