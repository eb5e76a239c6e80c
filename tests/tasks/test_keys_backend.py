"""Default keys on the real backend: distinct children per local iteration and per call."""
import datetime
from typing import Any, Dict, List

import pendulum
import prefect
from prefect import Flow, task
from prefect.schedules import Schedule
from prefect.schedules.clocks import DatesClock

from tasks_flowrun import create_flow_run
from tasks_flowrun.tasks import keys
from tests.tasks.conftest import register_script, runs_of_flow_named

NOWHERE = ["nowhere"]  # no agent deploys these children: they stay Scheduled


def test_each_iteration_of_a_scheduled_local_run_creates_its_own_child(client, project):
    register_script("child.py", project)
    now = pendulum.now("UTC")
    clock = DatesClock([now.add(seconds=0.5), now.add(seconds=3)])
    with Flow("scheduled-parent", schedule=Schedule(clocks=[clock])) as flow:
        created = create_flow_run(flow_name="child", project_name=project, parameters={"x": 1}, labels=NOWHERE)
    ids: List[str] = []

    def record(flow_: Flow, old: Any, new: Any) -> Any:
        if new.is_successful():
            ids.append(new.result[created].result)
        return new

    flow.state_handlers.append(record)
    flow.run()
    assert len(ids) == 2 and len(set(ids)) == 2
    assert {row["id"] for row in runs_of_flow_named(client, "child", project)} == set(ids)


def test_two_calls_in_one_task_make_two_children_and_a_retry_finds_them(client, project, monkeypatch):
    register_script("child.py", project)
    seen: List[Dict[str, Any]] = []

    def body() -> List[str]:
        return [
            create_flow_run.run(flow_name="child", project_name=project, parameters={"x": n}, labels=NOWHERE)
            for n in (1, 2)
        ]

    @task(max_retries=1, retry_delay=datetime.timedelta(seconds=0))
    def two_children() -> List[str]:
        ids = body()
        seen.append({"ids": ids, "context": prefect.context.to_dict()})
        if len(seen) == 1:
            raise RuntimeError("the first attempt fails after creating both children")
        return ids

    with Flow("two-calls-parent") as flow:
        created = two_children()
    state = flow.run()
    assert state.is_successful(), state.result
    first, retried = seen
    assert len(set(first["ids"])) == 2
    assert retried["ids"] == first["ids"] == state.result[created].result
    assert retried["context"]["task_run_count"] == 2

    # the same body again in the first attempt's context, as its retry in a fresh process
    # (its own call counter) would run it
    monkeypatch.setattr(keys, "CREATE_CALLS", keys.CallCounter())
    with prefect.context(**{**first["context"], "task_run_count": 2}):
        assert body() == first["ids"]
    children = runs_of_flow_named(client, "child", project)
    assert sorted(row["id"] for row in children) == sorted(first["ids"])
    assert sorted(row["parameters"]["x"] for row in children) == [1, 2]
