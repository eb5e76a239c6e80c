"""CreateFlowRun against the real embedded backend (no agent needed: runs stay Scheduled)."""
import datetime
import logging
import uuid

import pendulum
import prefect
import pytest
from prefect import Flow, unmapped
from prefect.executors import LocalDaskExecutor
from prefect.run_configs import LocalRun

from tasks_flowrun import CreateFlowRun, create_flow_run
from tasks_flowrun.client import FLOW_CACHE
from tasks_flowrun.tasks.errors import ArchivedFlowError, BackendRejectedError
from tests.tasks.conftest import flow_runs, register_script, runs_of_flow_named


def parent_ctx(**extra):
    ctx = {
        "flow_run_id": str(uuid.uuid4()),
        "flow_run_name": "parent-run",
        "task_run_id": str(uuid.uuid4()),
        "task_slug": "create_flow_run-1",
    }
    ctx.update(extra)
    return ctx


def run_in(ctx, **kwargs):
    with prefect.context(**ctx):
        return create_flow_run.run(**kwargs)


def test_create_by_name_records_parent_name_and_inputs(client, project):
    flow_id = register_script("child.py", project)
    ctx = parent_ctx(map_index=3, running_with_backend=True)
    start = pendulum.datetime(2031, 1, 2, 3, 4, 5, tz="UTC")
    run_id = run_in(
        ctx,
        flow_name="child",
        project_name=project,
        parameters={"x": 5},
        context={"mine": 1, "parent_flow_run_id": "spoofed"},
        labels=["custom-label"],
        run_config=LocalRun(env={"A": "1"}),
        scheduled_start_time=start,
    )
    [row] = flow_runs(client, {"id": {"_eq": run_id}})
    assert row["flow_id"] == flow_id
    assert row["name"] == "parent-run-child-3"
    assert row["parameters"]["x"] == 5
    assert row["labels"] == ["custom-label"]
    assert row["context"] == {
        "mine": 1,
        "parent_flow_run_id": ctx["flow_run_id"],
        "parent_task_run_id": ctx["task_run_id"],
        "parent_map_index": 3,
        "cancel_with_parent": True,
    }
    view = prefect.backend.FlowRunView.from_flow_run_id(run_id)
    assert view.state.is_scheduled() and view.state.start_time == start
    assert view.run_config.env == {"A": "1"}


def test_same_key_returns_the_same_child_even_after_re_registration(client, project):
    register_script("child.py", project)
    ctx = parent_ctx(map_index=0)
    first = run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})
    assert run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1}) == first
    # the child flow is re-registered as a new version before the retry
    new_flow_id = register_script("child.py", project)
    retry = run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})
    assert retry == first
    # the same holds for a look-up by flow group id
    group = client.graphql({"query": {prefect.utilities.graphql.with_args("flow_by_pk", {"id": new_flow_id}): {"flow_group_id"}}})
    assert run_in(ctx, flow_group_id=group.data.flow_by_pk.flow_group_id, parameters={"x": 1}) == first
    assert len(runs_of_flow_named(client, "child", project)) == 1
    # another map index, another task, or another parent run: another child
    others = {
        run_in(parent_ctx(**{**ctx, "map_index": 1}), flow_name="child", project_name=project, parameters={"x": 1}),
        run_in({**ctx, "task_slug": "create_flow_run-2"}, flow_name="child", project_name=project, parameters={"x": 1}),
        run_in(parent_ctx(map_index=0), flow_name="child", project_name=project, parameters={"x": 1}),
    }
    assert len(others) == 3 and first not in others
    assert len(runs_of_flow_named(client, "child", project)) == 4


def test_retry_with_a_pinned_flow_id_re_attaches_after_re_registration(client, project):
    pinned = register_script("child.py", project)
    ctx = parent_ctx()
    first = run_in(ctx, flow_id=pinned, parameters={"x": 1})
    register_script("child.py", project)  # archives the pinned version
    assert run_in(ctx, flow_id=pinned, parameters={"x": 1}) == first
    assert len(runs_of_flow_named(client, "child", project)) == 1
    # a fresh parent may not start a run of the archived version
    with pytest.raises(ArchivedFlowError, match="is archived"):
        run_in(parent_ctx(), flow_id=pinned, parameters={"x": 1})


def test_flow_id_flow_group_id_and_group_id_as_flow_id(client, project):
    old = register_script("child.py", project)
    new = register_script("child.py", project)
    group_id = client.graphql(
        {"query": {prefect.utilities.graphql.with_args("flow_by_pk", {"id": new}): {"flow_group_id"}}}
    ).data.flow_by_pk.flow_group_id
    ctx = parent_ctx()
    by_group = run_in({**ctx, "task_slug": "a"}, flow_group_id=group_id, parameters={"x": 1})
    group_as_flow_id = run_in({**ctx, "task_slug": "b"}, flow_id=group_id, parameters={"x": 1})
    pinned = run_in({**ctx, "task_slug": "c"}, flow_id=new, parameters={"x": 1})
    rows = {row["id"]: row for row in runs_of_flow_named(client, "child", project)}
    assert {rows[i]["flow_id"] for i in (by_group, group_as_flow_id, pinned)} == {new}
    assert old != new


def test_outside_a_flow_run_every_call_creates_a_new_child(client, project):
    register_script("child.py", project)
    a = create_flow_run.run(flow_name="child", project_name=project, parameters={"x": 1})
    b = create_flow_run.run(flow_name="child", project_name=project, parameters={"x": 1})
    assert a != b
    # an explicit key still dedupes
    k = CreateFlowRun(flow_name="child", project_name=project, parameters={"x": 1}, idempotency_key="k-1")
    assert k.run() == k.run()


def test_one_create_costs_at_most_two_requests(client, project, requests_counter):
    register_script("child.py", project)
    for kwargs in (
        {"flow_name": "child", "project_name": project},
        {"flow_name": "child", "project_name": project, "scheduled_start_time": datetime.timedelta(seconds=60)},
    ):
        FLOW_CACHE.clear()
        ctx = parent_ctx(map_index=0)
        with prefect.context(**ctx), requests_counter() as counted:
            first = create_flow_run.run(parameters={"x": 1}, **kwargs)
        assert counted.requests == 2, counted.fields
        assert counted.fields.get("create_flow_run") == 1 and counted.fields.get("flow") == 1
        assert "serialized_flow" not in str(counted.fields)
        # a retry in a fresh process finds the run in the look-up and sends no create at all
        FLOW_CACHE.clear()
        with prefect.context(**ctx), requests_counter() as counted:
            assert create_flow_run.run(parameters={"x": 1}, **kwargs) == first
        assert counted.requests == 1 and "create_flow_run" not in counted.fields
        # a retry in the same process sends only the create, which the key makes idempotent
        with prefect.context(**ctx), requests_counter() as counted:
            assert create_flow_run.run(parameters={"x": 1}, **kwargs) == first
        assert counted.requests == 1 and counted.fields == {"create_flow_run": 1}
    assert len(runs_of_flow_named(client, "child", project)) == 2


@pytest.mark.parametrize("n", [1, 12])
def test_a_fan_out_of_n_children_in_one_process_costs_n_plus_one_requests(client, project, requests_counter, n):
    register_script("child.py", project)
    with Flow(f"fan-out-{n}") as flow:
        create_flow_run.map(
            flow_name=unmapped("child"),
            project_name=unmapped(project),
            parameters=[{"x": i} for i in range(n)],
            labels=unmapped(["nowhere"]),
        )
    # mapped children run in parallel threads: concurrent misses share one look-up
    with requests_counter() as counted:
        state = flow.run(executor=LocalDaskExecutor(scheduler="threads", num_workers=4))
    assert state.is_successful(), state.result
    assert counted.requests == n + 1, counted.fields
    assert counted.fields == {"flow": 1, "tenant": 1, "flow_run": 1, "create_flow_run": n}
    assert len(counted.texts) == 2  # the look-up and the create; keys, names, ids are variables
    assert len(runs_of_flow_named(client, "child", project)) == n


def test_retry_after_re_registration_from_the_cache_returns_the_first_child(client, project, requests_counter):
    register_script("child.py", project)
    ctx = parent_ctx(map_index=0)
    first = run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})  # cached now
    register_script("child.py", project)  # a new version; the one the run was made for is archived
    with requests_counter() as counted:
        assert run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1}) == first
    assert counted.fields == {"create_flow_run": 1}
    assert len(runs_of_flow_named(client, "child", project)) == 1


def test_a_cached_pinned_flow_archived_since_gives_the_clear_error(client, project, requests_counter):
    pinned = register_script("child.py", project)
    first = run_in(parent_ctx(), flow_id=pinned, parameters={"x": 1})  # cached now
    register_script("child.py", project)  # archives the pinned version
    # another parent: the backend refuses the create, and the fresh look-up says why
    with requests_counter() as counted, pytest.raises(ArchivedFlowError, match=f"Flow '{pinned}'.*is archived"):
        run_in(parent_ctx(), flow_id=pinned, parameters={"x": 1})
    assert counted.fields == {"create_flow_run": 1, "flow": 1, "tenant": 1, "flow_run": 1}
    assert [row["id"] for row in runs_of_flow_named(client, "child", project)] == [first]


def test_a_cached_flow_gone_since_gives_the_look_up_error(client, project):
    flow_id = register_script("child.py", project)
    ctx = parent_ctx()
    first = run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})  # cached now
    client.graphql(
        {"mutation($id: UUID!)": {"archive_flow(input: {flow_id: $id})": {"success"}}}, variables={"id": flow_id}
    )
    with pytest.raises(ArchivedFlowError, match="Every version of the flow found for flow_name 'child'"):
        run_in(parent_ctx(), flow_name="child", project_name=project, parameters={"x": 1})
    # a retry of the first parent still re-attaches (the look-up finds its run), nothing new
    assert run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1}) == first
    assert len(FLOW_CACHE) == 0  # an archived version is never cached
    assert len(runs_of_flow_named(client, "child", project)) == 1


def test_a_refusal_of_an_unchanged_cached_flow_is_the_backends_own(client, project, requests_counter):
    register_script("child.py", project)
    run_in(parent_ctx(), flow_name="child", project_name=project, parameters={"x": 1})  # cached now
    with requests_counter() as counted, pytest.raises(BackendRejectedError, match="Required parameters were not"):
        run_in(parent_ctx(), flow_name="child", project_name=project, parameters={"fail": False})
    # the create, then the look-up that confirms the flow did not change; no second create
    assert counted.fields == {"create_flow_run": 1, "flow": 1, "tenant": 1, "flow_run": 1}
    assert len(runs_of_flow_named(client, "child", project)) == 1


def test_the_log_line_says_what_is_known(client, project, caplog):
    register_script("child.py", project)
    ctx = parent_ctx(map_index=0)
    with caplog.at_level(logging.INFO, logger="prefect"):
        first = run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})
        run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})  # cache hit
        FLOW_CACHE.clear()
        run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})  # look-up finds it
    messages = [r.getMessage() for r in caplog.records if first in r.getMessage()]
    assert messages[0].startswith("Created child flow run 'parent-run-child-0' of flow 'child'")
    assert messages[1].startswith("Created (or, on a retry or restart, re-attached to) child flow run")
    assert messages[2].startswith("Re-attached to child flow run 'parent-run-child-0'")


@pytest.mark.parametrize("mapped", [False, True])
def test_default_run_name(client, project, mapped):
    register_script("child.py", project)
    ctx = parent_ctx(map_index=7) if mapped else parent_ctx()
    run_id = run_in(ctx, flow_name="child", project_name=project, parameters={"x": 1})
    [row] = flow_runs(client, {"id": {"_eq": run_id}})
    assert row["name"] == ("parent-run-child-7" if mapped else "parent-run-child")
