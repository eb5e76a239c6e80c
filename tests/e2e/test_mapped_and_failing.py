"""A mapped task and a failing task, run by the real LocalAgent.

The backend records every task run (mapped children included), the final states and the logs;
FlowRunView / TaskRunView read them back; task results (PrefectResult) load across processes.
"""
import pendulum
import pytest

from tests.e2e.support import FLOWS, register_script, run_logs, wait_for_run
from tests.helpers import wait_until
from tests.server.support import GraphQL, unique

pytestmark = pytest.mark.e2e

SCRIPT = FLOWS / "mapped_with_failure.py"


@pytest.fixture(scope="module")
def finished_run(server, backend_env, agent):
    """One run of the flow for the whole module (it takes a few seconds through the agent)."""
    from prefect import Client

    gql = GraphQL(server.url)
    client = Client()
    project = unique("e2e-mapped")
    client.create_project(project)
    flow_id, flow = register_script(SCRIPT, project)
    slugs = {task.name: flow.slugs[task] for task in flow.tasks}
    run_id = client.create_flow_run(flow_id=flow_id, parameters={"n": 3})
    run = wait_for_run(gql, run_id, {"Success", "Failed", "Cancelled"}, timeout=120, agent=agent)
    return run_id, run, slugs


def test_backend_records_every_task_run_and_final_states(finished_run, gql: GraphQL):
    run_id, run, slugs = finished_run
    assert run["state"] == "Failed", [s["type"] for s in run["states"]]
    by_key = {(tr["task"]["slug"], tr["map_index"]): tr["type"] for tr in run["task_runs"]}
    assert by_key == {
        (slugs["n"], -1): "Success",
        (slugs["numbers"], -1): "Success",
        (slugs["inc"], -1): "Mapped",
        (slugs["inc"], 0): "Success",
        (slugs["inc"], 1): "Success",
        (slugs["inc"], 2): "Success",
        (slugs["total"], -1): "Success",
        (slugs["explode"], -1): "Failed",
    }
    explode = next(tr for tr in run["task_runs"] if tr["task"]["slug"] == slugs["explode"])
    assert "boom" in (explode["serialized_state"].get("message") or "")
    # Mapped children share the parent's task; the parent's state records how many children it had.
    parent = next(tr for tr in run["task_runs"] if tr["task"]["slug"] == slugs["inc"] and tr["map_index"] == -1)
    assert parent["serialized_state"].get("n_map_states") == 3


def test_views_read_the_run_back_and_results_load(finished_run):
    from prefect.backend import FlowRunView, TaskRunView
    from prefect.tasks.prefect import get_task_run_result

    run_id, _, slugs = finished_run
    view = FlowRunView.from_flow_run_id(run_id)
    assert view.state.is_failed()
    assert view.parameters == {"n": 3}
    assert len(view.get_task_run_ids()) == 8

    task_runs = view.get_all_task_runs()
    assert sorted((tr.task_slug, tr.map_index) for tr in task_runs) == sorted(
        [(slugs["n"], -1), (slugs["numbers"], -1), (slugs["inc"], -1), (slugs["inc"], 0), (slugs["inc"], 1),
         (slugs["inc"], 2), (slugs["total"], -1), (slugs["explode"], -1)]
    )

    total = view.get_task_run(task_slug=slugs["total"])
    assert total.state.is_successful()
    assert total.get_result() == 6

    mapped = view.get_task_run(task_slug=slugs["inc"])
    assert mapped.state.is_mapped()
    assert mapped.get_result() == [1, 2, 3]
    assert [child.get_result() for child in mapped.iter_mapped()] == [1, 2, 3]
    assert view.get_task_run(task_slug=slugs["inc"], map_index=1).get_result() == 2

    explode = TaskRunView.from_task_slug(slugs["explode"], flow_run_id=run_id)
    assert explode.state.is_failed()
    assert TaskRunView.from_task_run_id(explode.task_run_id).task_slug == slugs["explode"]

    # The task library's own loader, as a child flow's consumer would call it.
    assert get_task_run_result.run(flow_run_id=run_id, task_slug=slugs["total"], poll_time=1) == 6


def test_logs_of_the_run_are_recorded(finished_run, gql: GraphQL):
    run_id, _, _ = finished_run

    def have_all():
        messages = [log["message"] for log in run_logs(gql, run_id)]
        needed = ["incrementing 0", "incrementing 1", "incrementing 2", "boom: this task always fails"]
        return all(any(text in message for message in messages) for text in needed)

    wait_until(have_all, timeout=30, what="the run's task logs")
    logs = run_logs(gql, run_id)
    levels = {log["level"] for log in logs}
    assert "INFO" in levels and "ERROR" in levels, levels
    timestamps = [log["timestamp"] for log in logs]
    assert [pendulum.parse(t) for t in timestamps] == sorted(pendulum.parse(t) for t in timestamps)
