"""A create task that runs again (a retry, a restarted parent) restarts its failed child in
place, re-attaches to a live one and reuses a successful one: one run per key, also when
several retries race. Against the real backend; no agent (runs stay where the test puts them)."""
import itertools

import prefect
from prefect.engine import state as states

from tasks_flowrun import restart_flow_run
from tasks_flowrun.client import RERUNS
from tests.helpers import run_at_once
from tests.tasks.conftest import flow_runs, register_script, task_runs
from tests.tasks.test_create_backend import parent_ctx, run_in


def _fail(client, run_id):
    client.set_flow_run_state(run_id, states.Running("go"))
    for row in task_runs(client, run_id):
        client.set_task_run_state(row["id"], states.Failed("boom"))
    client.set_flow_run_state(run_id, states.Failed("the child failed"))


def _state(client, run_id):
    return flow_runs(client, {"id": {"_eq": run_id}})[0]["state"]


def test_a_retry_restarts_a_failed_child_in_place_and_reuses_a_successful_one(client, project):
    register_script("child.py", project)
    ctx = parent_ctx()
    child = run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})
    _fail(client, child)

    retry = {**ctx, "task_run_count": 2}
    assert run_in(retry, flow_name="child", project_name=project, parameters={"x": 1}) == child
    assert _state(client, child) == "Scheduled"
    assert {row["state"] for row in task_runs(client, child)} == {"Pending"}

    client.set_flow_run_state(child, states.Success("done"))
    again = {**ctx, "task_run_count": 3}
    assert run_in(again, flow_name="child", project_name=project, parameters={"x": 1}) == child
    assert _state(client, child) == "Success"  # reused, not restarted


def test_restart_failed_false_re_attaches_without_restarting(client, project):
    register_script("child.py", project)
    ctx = parent_ctx()
    child = run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})
    _fail(client, child)
    retry = {**ctx, "task_run_count": 2}
    assert run_in(retry, flow_name="child", project_name=project, parameters={"x": 1}, restart_failed=False) == child
    assert _state(client, child) == "Failed"


def test_racing_retries_make_one_run_per_key(client, project):
    register_script("child.py", project)
    ctx = parent_ctx()
    child = run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})
    _fail(client, child)
    attempts = itertools.count(2)  # as from several processes: each call is the first of its attempt

    def retry():
        return run_in({**ctx, "task_run_count": next(attempts)}, flow_name="child", project_name=project,
                      parameters={"x": 1})

    ids = run_at_once(retry, 8)
    assert set(ids) == {child}
    assert [r["id"] for r in flow_runs(client, {"flow": {"project": {"name": {"_eq": project}}}})] == [child]
    # restarted (an agent may have taken it since, so any state but Failed)
    assert _state(client, child) != "Failed"


def test_a_fresh_parent_is_not_a_rerun_and_a_restarted_one_is(client, project):
    flow_id = register_script("child.py", project)
    parent = client.create_flow_run(flow_id=flow_id, parameters={"x": 1})
    ctx = {"flow_run_id": parent, "running_with_backend": True}
    client.set_flow_run_state(parent, states.Running("first run"))
    assert not RERUNS.is_rerun(client, ctx)
    client.set_flow_run_state(parent, states.Failed("it failed"))
    assert restart_flow_run(parent, client=client)
    client.set_flow_run_state(parent, states.Running("second run"))
    assert RERUNS.is_rerun(prefect.Client(), ctx) is False  # known per process: asked once per parent run
    assert RERUNS.is_rerun(client, {**ctx, "flow_run_id": parent, "task_run_count": 2})
    fresh = type(RERUNS)()
    assert fresh.is_rerun(client, ctx)


def test_restart_flow_run_leaves_runs_that_did_not_fail_alone(client, project):
    flow_id = register_script("child.py", project)
    run_id = client.create_flow_run(flow_id=flow_id, parameters={"x": 1})
    assert not restart_flow_run(run_id, client=client)  # Scheduled
    client.set_flow_run_state(run_id, states.Running("go"))
    assert not restart_flow_run(run_id, client=client)
    assert _state(client, run_id) == "Running"
