"""Parent flows deployed by the real LocalAgent create and wait for children on the real backend."""
import datetime
from typing import Any, Dict, List

import pendulum
import pytest
from prefect import Client
from prefect.backend import FlowRunView
from prefect.engine import state as states
from prefect.utilities.graphql import with_args

from tests.helpers import wait_until
from tests.tasks.conftest import register_script, runs_of_flow_named, task_runs, wait_finished

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql_e2e]


def start(client: Client, flow_id: str, **parameters: Any) -> str:
    return client.create_flow_run(flow_id=flow_id, parameters=parameters)


def task_state(client: Client, flow_run_id: str, slug_prefix: str) -> str:
    [row] = [r for r in task_runs(client, flow_run_id) if r["task"]["slug"].startswith(slug_prefix) and r["map_index"] == -1]
    return row["state"]


def task_state_history(client: Client, flow_run_id: str, slug_prefix: str) -> List[str]:
    where = {"flow_run_id": {"_eq": flow_run_id}, "task": {"slug": {"_like": f"{slug_prefix}%"}}}
    query = {"query": {with_args("task_run", {"where": where}): {"states": {"state", "timestamp"}}}}
    [row] = client.graphql(query).data.task_run
    return [s.state for s in sorted(row.states, key=lambda s: pendulum.parse(s.timestamp))]


def test_fanout_parent_creates_five_named_children_and_waits(client, project, agent):
    register_script("child.py", project)
    parent_flow = register_script("fanout_parent.py", project)
    parent = start(client, parent_flow, project=project)
    view = wait_finished(parent, timeout=240)
    assert view.state.is_successful(), view.state
    children = runs_of_flow_named(client, "child", project)
    assert len(children) == 5
    assert sorted(c["name"] for c in children) == [f"{view.name}-child-{i}" for i in range(5)]
    assert all(c["state"] == "Success" for c in children)
    assert all(c["context"]["parent_flow_run_id"] == parent for c in children)
    assert sorted(c["context"]["parent_map_index"] for c in children) == [0, 1, 2, 3, 4]
    assert sorted(c["parameters"]["x"] for c in children) == [1, 2, 3, 4, 5]
    assert len({c["context"]["parent_task_run_id"] for c in children}) == 5  # the mapped task runs


def test_restart_creates_no_new_child_and_two_create_tasks_make_two(client, project, agent):
    register_script("child.py", project)
    parent_flow = register_script("two_creates_parent.py", project)
    parent = start(client, parent_flow, project=project)
    assert wait_finished(parent, timeout=180).state.is_successful()
    first = {c["id"] for c in runs_of_flow_named(client, "child", project)}
    assert len(first) == 2

    # restart: every task run back to Pending, the flow run back to Scheduled
    for row in task_runs(client, parent):
        client.set_task_run_state(row["id"], states.Pending("restart"))
    client.set_flow_run_state(parent, states.Scheduled("restart", start_time=pendulum.now("UTC")))

    def rerun_finished() -> bool:
        view = FlowRunView.from_flow_run_id(parent)
        running = [s for s in view.states if isinstance(s, states.Running)]
        return len(running) >= 2 and view.state.is_finished()

    wait_until(rerun_finished, timeout=180, interval=0.5, what="the restarted parent to finish")
    assert FlowRunView.from_flow_run_id(parent).state.is_successful()
    assert all(r["state"] == "Success" for r in task_runs(client, parent))
    assert {c["id"] for c in runs_of_flow_named(client, "child", project)} == first


def test_retried_create_and_wait_task_re_attaches_to_the_same_child(client, project, agent):
    register_script("child.py", project)
    parent_flow = register_script("retry_parent.py", project)
    parent = start(client, parent_flow, project=project)
    assert wait_finished(parent, timeout=180).state.is_failed()
    children = runs_of_flow_named(client, "child", project)
    assert len(children) == 1 and children[0]["state"] == "Failed"
    history = task_state_history(client, parent, "create_flow_run")
    assert "Retrying" in history and history.count("Running") == 2 and history[-1] == "Failed"


def test_child_outcomes_reach_the_waiting_task(client, project, agent):
    register_script("child.py", project)
    parent_flow = register_script("wait_outcome_parent.py", project)
    later = pendulum.now("UTC").add(hours=1).isoformat()
    failing_raise = start(client, parent_flow, project=project, child_parameters={"x": 1, "fail": True})
    failing_return = start(
        client, parent_flow, project=project, child_parameters={"x": 2, "fail": True}, raise_final_state=False
    )
    cancelled = start(client, parent_flow, project=project, child_parameters={"x": 3}, child_start=later)

    # the third parent's child is scheduled an hour ahead: cancel it while the parent waits
    def child_of_cancelled() -> List[Dict[str, Any]]:
        return [c for c in runs_of_flow_named(client, "child", project) if c["context"]["parent_flow_run_id"] == cancelled]

    [child] = wait_until(child_of_cancelled, timeout=120, what="the child to exist")
    assert client.cancel_flow_run(child["id"]) == "Cancelled"

    view = wait_finished(failing_raise, timeout=180)
    assert view.state.is_failed()
    assert task_state(client, failing_raise, "wait_for_flow_run") == "Failed"

    view = wait_finished(failing_return, timeout=180)
    assert view.state.is_successful()
    assert task_state(client, failing_return, "wait_for_flow_run") == "Success"
    returned = view.get_task_run(task_slug="wait_for_flow_run-1").get_result()
    assert isinstance(returned, FlowRunView) and returned.state.is_failed()

    # a cancelled child fails the waiting task, and so the parent (by default)
    assert wait_finished(cancelled, timeout=180).state.is_failed()
    assert task_state(client, cancelled, "wait_for_flow_run") == "Failed"


def test_three_levels_each_waiting_on_the_one_below(client, project, agent):
    register_script("child.py", project)
    register_script("middle_parent.py", project)
    top_flow = register_script("grandparent.py", project)
    top = start(client, top_flow, project=project)
    top_view = wait_finished(top, timeout=300)
    assert top_view.state.is_successful(), top_view.state
    [middle] = runs_of_flow_named(client, "middle-parent", project)
    [child] = runs_of_flow_named(client, "child", project)
    assert middle["context"]["parent_flow_run_id"] == top and middle["state"] == "Success"
    assert child["context"]["parent_flow_run_id"] == middle["id"] and child["state"] == "Success"

    def finished_at(flow_run_id: str) -> pendulum.DateTime:
        view = FlowRunView.from_flow_run_id(flow_run_id)
        return [s.timestamp for s in view.states if s.is_finished()][-1]

    assert finished_at(child["id"]) <= finished_at(middle["id"]) <= finished_at(top)


def test_flow_group_id_runs_the_newest_version_and_a_delay_is_honoured(client, project, agent):
    from tasks_flowrun import create_flow_run, wait_for_flow_run

    register_script("child.py", project)
    newest = register_script("child.py", project)
    group = client.graphql({"query": {with_args("flow_by_pk", {"id": newest}): {"flow_group_id"}}})
    created_at = pendulum.now("UTC")
    run_id = create_flow_run.run(
        flow_group_id=group.data.flow_by_pk.flow_group_id,
        parameters={"x": 3},
        scheduled_start_time=datetime.timedelta(seconds=5),
    )
    view = wait_for_flow_run.run(flow_run_id=run_id, raise_final_state=False, max_duration=120)
    assert view.flow_id == newest and view.state.is_successful()
    started = [s.timestamp for s in view.states if isinstance(s, states.Running)][0]
    assert started >= created_at.add(seconds=5)
