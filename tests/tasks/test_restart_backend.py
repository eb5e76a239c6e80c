"""A create task that runs again (a retry, a restarted parent) restarts its failed child in
place, re-attaches to a live one and reuses a successful one: one run per key, also when
several retries race. Against the real backend; no agent (runs stay where the test puts them)."""
import itertools
import threading
import uuid

import pendulum
import prefect
import pytest
from prefect.engine import signals
from prefect.engine import state as states

from tasks_flowrun import WaitForFlowRun, create_flow_run, restart_flow_run, wait_for_flow_run
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


# --- how a rerun treats its children: Failed / TimedOut and cancelled-with-the-parent ones
# restart, a child a user cancelled stays Cancelled, a recovered parent restarts none ---------

def _parent_run(client, project, requeue_context=None):
    """A parent flow run that ran once, failed, was put back in the queue (by a user, or with
    the recovery marker `requeue_context`) and runs again; its context for the tasks."""
    flow_id = register_script("child.py", project)
    parent = client.create_flow_run(flow_id=flow_id, parameters={"x": 0}, labels=["nowhere"])
    client.set_flow_run_state(parent, states.Running("first run"))
    client.set_flow_run_state(parent, states.Failed("it failed"))
    client.set_flow_run_state(parent, states.Scheduled("again", start_time=pendulum.now("UTC"),
                                                      context=requeue_context or {}))
    client.set_flow_run_state(parent, states.Running("second run"))
    return {"flow_run_id": parent, "flow_run_name": "parent", "task_run_id": str(uuid.uuid4()),
            "task_slug": "create_flow_run-1", "running_with_backend": True}


def _end(client, run_id, final):
    client.set_flow_run_state(run_id, states.Running("go"))
    if isinstance(final, states.Failed):
        for row in task_runs(client, run_id):
            client.set_task_run_state(row["id"], states.Failed("boom"))
    client.set_flow_run_state(run_id, final)


def _children_of(client, project, ctx, finals):
    """One child per final state (a list: states set in turn), made by the parent's first run."""
    ids = []
    for index, final in enumerate(finals):
        with prefect.context(**{**ctx, "map_index": index, "task_run_count": 1}):
            ids.append(create_flow_run.run(flow_name="child", project_name=project, parameters={"x": index},
                                           labels=["nowhere"]))
        if isinstance(final, list):
            client.set_flow_run_state(ids[-1], states.Running("go"))
            for state in final:
                client.set_flow_run_state(ids[-1], state)
        else:
            _end(client, ids[-1], final)
    return ids


def test_the_kind_of_rerun_is_read_once_per_parent_run(client, project, requests_counter):
    fresh = type(RERUNS)()
    restarted = _parent_run(client, project)
    recovered = _parent_run(client, project, {"tasks_flowrun_recovered": True})
    with requests_counter() as counted:
        assert fresh.kind(client, restarted) == "restarted"
        assert fresh.kind(client, {**restarted, "task_run_count": 2}) == "retry"
        assert fresh.kind(client, recovered) == "recovered"
        # the recovery may itself hand the task back as Retrying: still "recovered"
        assert fresh.kind(client, {**recovered, "task_run_count": 2}) == "recovered"
        assert fresh.kind(client, {"flow_run_id": "local", "task_run_count": 2}) == "retry"  # no backend
    assert counted.fields == {"flow_run_state": 2}


def test_a_restarted_parent_restarts_failed_and_timed_out_children_and_those_cancelled_with_it(client, project,
                                                                                                 caplog):
    ctx = _parent_run(client, project)
    marker = {"cancelled_with_parent": ctx["flow_run_id"]}
    finals = [states.Failed("boom"), states.TimedOut("slow"),
              [states.Cancelling("with parent", context=marker), states.Cancelled("with parent")],
              states.Cancelled("a user stopped it"), states.Success("fine")]
    ids = _children_of(client, project, ctx, finals)
    for index in range(len(ids)):
        with prefect.context(**{**ctx, "map_index": index}):
            assert create_flow_run.run(flow_name="child", project_name=project, parameters={"x": index},
                                       labels=["nowhere"]) == ids[index]
    assert [_state(client, run_id) for run_id in ids] == ["Scheduled", "Scheduled", "Scheduled", "Cancelled",
                                                          "Success"]
    said = " ".join(caplog.messages)
    assert "which had ended Failed" in said and "which had ended TimedOut" in said
    assert "which had been cancelled with its parent" in said
    assert f"a user cancelled: it stays Cancelled (to run it again, restart that child " \
           f"(`tasks_flowrun.restart_flow_run({ids[3]!r})`" in said


def test_a_restarted_parent_fails_naming_the_child_a_user_cancelled(client, project):
    ctx = _parent_run(client, project)
    failed, by_user = _children_of(client, project, ctx, [states.Failed("boom"), states.Cancelled("stopped")])
    # the failed child restarts; the test plays the agent and lets it succeed
    threading.Timer(1.0, lambda: _end(client, failed, states.Success("second time"))).start()
    with prefect.context(**{**ctx, "task_slug": "wait_for_flow_run-1"}), pytest.raises(signals.FAIL) as caught:
        WaitForFlowRun(raise_final_state=True, max_duration=20).run(flow_run_id=[failed, by_user])
    assert _state(client, by_user) == "Cancelled" and _state(client, failed) == "Success"
    message = str(caught.value)
    assert "1 of 2 child flow runs did not succeed: 'parent-child-1' (Cancelled)" in message
    assert (f"Cancelled by a user, so a restart of this parent leaves them Cancelled: 'parent-child-1' ({by_user}); "
            "to run them again, restart those children") in message


def test_a_recovered_parent_re_attaches_and_restarts_no_child(client, project, caplog):
    ctx = _parent_run(client, project, {"tasks_flowrun_recovered": True})
    failed, = _children_of(client, project, ctx, [states.Failed("boom")])
    with prefect.context(**{**ctx, "map_index": 0}):
        assert create_flow_run.run(flow_name="child", project_name=project, parameters={"x": 0},
                                   labels=["nowhere"]) == failed
    assert _state(client, failed) == "Failed"
    assert "restarting none: the parent was recovered after its process died" in " ".join(caplog.messages)
    with prefect.context(**ctx):
        view = wait_for_flow_run.run(flow_run_id=failed, max_duration=10)
    assert view.state.is_failed() and _state(client, failed) == "Failed"


def test_a_first_run_pays_one_request_per_parent_for_the_rerun_check(client, project, requests_counter):
    flow_id = register_script("child.py", project)
    parent = client.create_flow_run(flow_id=flow_id, parameters={"x": 0}, labels=["nowhere"])
    client.set_flow_run_state(parent, states.Running("first run"))
    ctx = {"flow_run_id": parent, "flow_run_name": "parent", "task_slug": "create_flow_run-1",
           "running_with_backend": True, "task_run_count": 1}
    n = 20
    with requests_counter() as counted:
        for index in range(n):
            with prefect.context(**ctx, map_index=index, task_run_id=str(uuid.uuid4())):
                create_flow_run.run(flow_name="child", project_name=project, parameters={"x": index},
                                    labels=["nowhere"])
    # the look-up, the parent's states (once), one create per child
    assert counted.fields == {"flow": 1, "tenant": 1, "flow_run": 1, "flow_run_state": 1, "create_flow_run": n}
    assert counted.requests / n <= 1.1
