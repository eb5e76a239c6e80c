"""Prefect Server's tests/graphql/test_flow_groups.py, over HTTP: delete a flow group, its labels,
run config, description and schedule (cron and interval clocks, time zones)."""
import uuid

import pendulum
import prefect
import pytest
from prefect import Parameter
from prefect.serialization.schedule import ScheduleSchema

from tests.server.server_cases.calls import create_flow, error, mutate, ok, row
from tests.server.server_cases.conftest import build_test_flow


def group(gql, flow_group_id, fields):
    return row(gql, "flow_group", flow_group_id, fields)


def set_(gql, name, flow_group_id, **input_):
    return ok(mutate(gql, name, {"flow_group_id": flow_group_id, **input_}), name)["success"]


# --- TestDeleteFlowGroup ----------------------------------------------------------------------------

def test_delete_flow_group(gql, flow_id, flow_group_id):
    run_id = gql.create_flow_run(flow_id=flow_id)
    assert set_(gql, "delete_flow_group", flow_group_id) is True
    assert group(gql, flow_group_id, "id") is None
    # with its flows and their runs
    assert row(gql, "flow", flow_id, "id") is None and row(gql, "flow_run", run_id, "id") is None


# --- TestSetFlowGroupLabels -------------------------------------------------------------------------

def test_set_flow_group_labels(gql, flow_group_id):
    assert set_(gql, "set_flow_group_labels", flow_group_id, labels=["meep", "morp"]) is True
    assert set(group(gql, flow_group_id, "labels")["labels"]) == {"meep", "morp"}


@pytest.mark.parametrize("labels", [None, []])
def test_set_flow_group_labels_preserves_type(gql, flow_group_id, labels):
    assert set_(gql, "set_flow_group_labels", flow_group_id, labels=labels) is True
    assert group(gql, flow_group_id, "labels")["labels"] == labels


def test_set_flow_group_labels_dedupes_them(gql, flow_group_id):
    """Beyond Server's own file: Server stores each label once."""
    assert set_(gql, "set_flow_group_labels", flow_group_id, labels=["a", "b", "a"]) is True
    assert sorted(group(gql, flow_group_id, "labels")["labels"]) == ["a", "b"]


def test_clear_flow_group_labels(gql, flow_group_id):
    set_(gql, "set_flow_group_labels", flow_group_id, labels=["zaphod"])
    assert group(gql, flow_group_id, "labels")["labels"] == ["zaphod"]
    set_(gql, "set_flow_group_labels", flow_group_id, labels=None)
    assert group(gql, flow_group_id, "labels")["labels"] is None


# --- TestSetFlowGroupRunConfig ----------------------------------------------------------------------

@pytest.mark.parametrize("run_config", [None, {"type": "UniversalRun", "labels": ["a"]}])
def test_set_flow_group_run_config(gql, flow_group_id, run_config):
    assert set_(gql, "set_flow_group_run_config", flow_group_id, run_config=run_config) is True
    assert group(gql, flow_group_id, "run_config")["run_config"] == run_config


# --- TestSetFlowGroupDescription --------------------------------------------------------------------

@pytest.mark.parametrize("description", [None, "it does a thing.", "# TITLE\n it does *MANY* things"])
def test_set_flow_group_description(gql, flow_group_id, description):
    assert set_(gql, "set_flow_group_description", flow_group_id, description=description) is True
    assert group(gql, flow_group_id, "description")["description"] == description


# --- TestSetFlowGroupSchedule -----------------------------------------------------------------------

# Server's cases use "42 0 0 * * *": day-of-month 0, which the croniter Prefect 1.4.1 installs
# today refuses (Prefect's CronClock validates with it, on Server as here); day 1 instead.
CRON_42, CRON_43 = "42 0 1 * * *", "43 0 1 * * *"

def schedule(gql, flow_group_id):
    return group(gql, flow_group_id, "schedule")["schedule"]


def test_set_cron_clocks_for_flow_group_schedule(gql, flow_group_id):
    clocks = [{"cron": CRON_42, "parameter_defaults": {"meep": "morp"}}, {"cron": CRON_43}]
    assert set_(gql, "set_flow_group_schedule", flow_group_id, cron_clocks=clocks) is True
    assert schedule(gql, flow_group_id) == {
        "type": "Schedule",
        "clocks": [
            {"type": "CronClock", "cron": CRON_42, "parameter_defaults": {"meep": "morp"}, "start_date": None},
            {"type": "CronClock", "cron": CRON_43, "start_date": None},
        ],
    }


def test_add_interval_clocks_to_flow_group_schedule(gql, flow_group_id):
    clocks = [{"interval": 4200, "parameter_defaults": {"meep": "morp"}}, {"interval": 4300}]
    assert set_(gql, "set_flow_group_schedule", flow_group_id, interval_clocks=clocks) is True
    assert schedule(gql, flow_group_id) == {
        "type": "Schedule",
        "clocks": [
            {"type": "IntervalClock", "interval": 4200000000, "parameter_defaults": {"meep": "morp"},
             "start_date": None},
            {"type": "IntervalClock", "interval": 4300000000, "start_date": None},
        ],
    }


def test_add_cron_and_interval_clocks_to_flow_group_schedule(gql, flow_group_id):
    assert set_(gql, "set_flow_group_schedule", flow_group_id, cron_clocks=[{"cron": CRON_42}],
                interval_clocks=[{"interval": 4200}]) is True
    assert schedule(gql, flow_group_id) == {
        "type": "Schedule",
        "clocks": [
            {"type": "CronClock", "cron": CRON_42, "start_date": None},
            {"type": "IntervalClock", "interval": 4200000000, "start_date": None},
        ],
    }


def test_add_cron_and_interval_clocks_to_flow_group_schedule_with_timezone(gql, flow_group_id):
    assert set_(gql, "set_flow_group_schedule", flow_group_id, cron_clocks=[{"cron": CRON_42}],
                interval_clocks=[{"interval": 4200}], timezone="US/Pacific") is True
    loaded = ScheduleSchema().load(schedule(gql, flow_group_id))
    assert len(loaded.clocks) == 2
    assert all(c.start_date <= pendulum.now("utc") for c in loaded.clocks)
    assert all(c.start_date.timezone_name == "US/Pacific" for c in loaded.clocks)


def test_add_clocks_to_flow_group_schedule_with_timezone_raises_informative_error(gql, flow_group_id):
    body = mutate(gql, "set_flow_group_schedule", {"flow_group_id": flow_group_id,
                                                   "cron_clocks": [{"cron": CRON_42}], "timezone": "US/Ocean"})
    assert "Invalid timezone" in error(body)
    assert schedule(gql, flow_group_id) is None


def test_interval_clock_units(gql, flow_group_id):
    set_(gql, "set_flow_group_schedule", flow_group_id, interval_clocks=[{"interval": 60}])
    next_two = ScheduleSchema().load(schedule(gql, flow_group_id)).next(n=2)
    assert next_two[0].add(minutes=1) == next_two[1]


# --- TestDeleteFlowGroupSchedule --------------------------------------------------------------------

def test_delete_flow_group_schedule(gql, flow_group_id):
    set_(gql, "set_flow_group_schedule", flow_group_id, interval_clocks=[{"interval": 60}])
    assert schedule(gql, flow_group_id) is not None
    assert set_(gql, "delete_flow_group_schedule", flow_group_id) is True
    assert schedule(gql, flow_group_id) is None


# --- beyond Server's own file: the rest of these mutations' semantics in Server's api/flow_groups.py --

@pytest.mark.parametrize("mutation,extra", [
    ("delete_flow_group", {}), ("set_flow_group_labels", {"labels": ["x"]}),
    ("set_flow_group_description", {"description": "d"}), ("set_flow_group_run_config", {"run_config": None}),
    ("set_flow_group_default_parameters", {"parameters": {"x": 1}}),
    ("set_flow_group_schedule", {"interval_clocks": [{"interval": 60}]}), ("delete_flow_group_schedule", {}),
])
def test_flow_group_mutations_on_an_unknown_group_are_not_success(gql, mutation, extra):
    assert set_(gql, mutation, str(uuid.uuid4()), **extra) is False


def test_set_flow_group_default_parameters_are_used_by_new_runs(gql, project_id):
    flow_id = create_flow(gql, project_id, build_test_flow().serialize(), set_schedule_active=False)
    flow_group_id = row(gql, "flow", flow_id, "flow_group_id")["flow_group_id"]
    assert set_(gql, "set_flow_group_default_parameters", flow_group_id, parameters={"x": 42}) is True
    assert group(gql, flow_group_id, "default_parameters")["default_parameters"] == {"x": 42}
    run_id = gql.create_flow_run(flow_id=flow_id)
    assert row(gql, "flow_run", run_id, "parameters")["parameters"] == {"x": 42}


def test_a_new_flow_group_schedule_replaces_the_auto_scheduled_runs(gql, flow_id, flow_group_id):
    def auto_runs():
        return {r["id"]: pendulum.parse(r["scheduled_start_time"]) for r in gql.data(
            '{ flow_run(where: {flow_group_id: {_eq: "%s"}, auto_scheduled: {_eq: true}}) '
            '{ id scheduled_start_time } }' % flow_group_id)["flow_run"]}

    mutate(gql, "set_schedule_active", {"flow_id": flow_id})
    daily = auto_runs()  # the flow's own schedule: every day at midnight UTC
    assert len(daily) == 10 and all((t.hour, t.minute) == (0, 0) for t in daily.values())
    set_(gql, "set_flow_group_schedule", flow_group_id, cron_clocks=[{"cron": "17 * * * *"}])
    hourly = auto_runs()  # the group's schedule wins
    assert len(hourly) == 10 and not set(hourly) & set(daily)
    assert all(t.minute == 17 for t in hourly.values())
    set_(gql, "delete_flow_group_schedule", flow_group_id)
    again = auto_runs()  # the flow's own schedule applies again
    assert len(again) == 10 and not set(again) & set(hourly)
    assert all((t.hour, t.minute) == (0, 0) for t in again.values())


@pytest.mark.parametrize("input_,message", [
    ({"cron_clocks": [{"cron": "not a cron"}]}, "Invalid clock"),
    ({"interval_clocks": [{"interval": 60}], "timezone": "Mars/Olympus"}, "Invalid timezone"),
])
def test_set_flow_group_schedule_refuses_bad_clocks(gql, flow_group_id, input_, message):
    assert message in error(mutate(gql, "set_flow_group_schedule", {"flow_group_id": flow_group_id, **input_}))
    assert schedule(gql, flow_group_id) is None


def test_parameter_defaults_of_a_clock_reach_its_runs(gql, project_id):
    flow = prefect.Flow("with-y", tasks=[Parameter("x", default=1), Parameter("y")])  # no schedule of its own
    flow_id = create_flow(gql, project_id, flow.serialize())
    flow_group_id = row(gql, "flow", flow_id, "flow_group_id")["flow_group_id"]
    set_(gql, "set_flow_group_schedule", flow_group_id,
         interval_clocks=[{"interval": 3600, "parameter_defaults": {"y": "from-clock"}}])
    assert ok(mutate(gql, "set_schedule_active", {"flow_id": flow_id}), "set_schedule_active")["success"] is True
    runs = gql.data('{ flow_run(where: {flow_id: {_eq: "%s"}}) { parameters } }' % flow_id)["flow_run"]
    assert len(runs) == 10 and all(r["parameters"] == {"x": 1, "y": "from-clock"} for r in runs)
    # without the group's schedule the flow has none: its auto-scheduled runs go
    set_(gql, "delete_flow_group_schedule", flow_group_id)
    assert gql.data('{ flow_run(where: {flow_id: {_eq: "%s"}}) { id } }' % flow_id)["flow_run"] == []


def test_flow_group_queries_with_nested_aggregates(gql, flow_id, flow_group_id):
    """Beyond Server's own file: a flow group read with its flows, as the Prefect UI reads it."""
    gql.create_flow_run(flow_id=flow_id)
    answer = gql.data('{ flow_group(where: {id: {_eq: "%s"}}) { id flows { id } flows_aggregate { aggregate '
                      '{ count } } } }' % flow_group_id)["flow_group"]
    assert answer == [{"id": flow_group_id, "flows": [{"id": flow_id}], "flows_aggregate": {"aggregate": {"count": 1}}}]
