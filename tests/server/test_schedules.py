"""Flows registered with an active schedule get their next runs, as with `prefect server start`."""
import datetime

import pendulum
from prefect import Flow, Parameter, task
from prefect.schedules import IntervalSchedule
from prefect.storage import Local

from tests.server.support import unique


@task
def echo(x):
    return x


def _scheduled_flow(name: str, storage_dir) -> Flow:
    schedule = IntervalSchedule(interval=datetime.timedelta(minutes=5))
    with Flow(name, schedule=schedule, storage=Local(directory=str(storage_dir))) as flow:
        echo(Parameter("x", default=1))
    return flow


def _auto_runs(client, flow_id: str):
    query = {
        "query": {
            f'flow_run(where: {{flow_id: {{_eq: "{flow_id}"}}}}, order_by: {{scheduled_start_time: asc}})': {
                "scheduled_start_time", "auto_scheduled", "state", "parameters", "labels"
            }
        }
    }
    return client.graphql(query).data.flow_run


def test_active_schedule_creates_ten_future_runs_and_a_new_version_replaces_them(client, project, tmp_path):
    flow = _scheduled_flow(unique("scheduled"), tmp_path)
    first = flow.register(project, no_url=True, set_schedule_active=True, add_default_labels=False)
    runs = _auto_runs(client, first)
    assert len(runs) == 10
    assert all(r.auto_scheduled and r.state == "Scheduled" and r.parameters == {"x": 1} for r in runs)
    starts = [pendulum.parse(r.scheduled_start_time) for r in runs]
    assert starts == sorted(starts) and starts[0] >= pendulum.now("UTC").subtract(seconds=1)
    assert all((b - a).in_seconds() == 300 for a, b in zip(starts, starts[1:]))

    second = flow.register(project, no_url=True, set_schedule_active=True, add_default_labels=False)
    assert second != first
    assert _auto_runs(client, first) == []  # archiving deletes the old version's scheduled auto runs
    assert len(_auto_runs(client, second)) == 10


def test_inactive_schedule_creates_no_runs(client, project, tmp_path):
    flow = _scheduled_flow(unique("paused-schedule"), tmp_path)
    flow_id = flow.register(project, no_url=True, set_schedule_active=False, add_default_labels=False)
    assert _auto_runs(client, flow_id) == []
