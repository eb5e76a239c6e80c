"""Runs whose process died are recovered by the backend's recovery sweep: their unfinished
task runs are handed back and the run is rescheduled (three times at most, then Failed);
runs waiting on purpose are left alone; an orphaned heartbeat cannot keep a run alive.

The sweep is driven directly with a `now` in the future, against a real server over HTTP.
"""
import datetime as dt
import json
import time

import pytest
import requests
import sqlalchemy as sa
from prefect.engine.state import Cancelling, Paused, Running, Scheduled, Submitted, Success
from prefect.utilities.graphql import compress

from tasks_flowrun.server.api.recovery import RecoveryPolicy
from tasks_flowrun.server.availability import Availability, Clocks
from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.services.recovery import Recovery, sweep_interval
from tests.stores import fresh_database

TIMEOUT = dt.timedelta(seconds=120)


def _post(url, query, variables=None):
    answer = requests.post(url, json={"query": query, "variables": json.dumps(variables)}, timeout=15).json()
    assert "errors" not in answer, answer
    return answer["data"]


class Backend:
    """A fresh server with one registered two-task flow (`a-1` without retries, `b-1` with one)."""

    def __init__(self, url: str, edges=()) -> None:
        self.url = url
        project = _post(url, "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
                        {"input": {"name": f"recovery-{len(edges)}"}})["create_project"]["id"]
        flow = {"name": f"mortal-{len(edges)}", "tasks": [{"slug": "a-1"}, {"slug": "b-1", "max_retries": 1}],
                "edges": [{"upstream_task": {"slug": up}, "downstream_task": {"slug": down}, "key": "x"}
                          for up, down in edges], "parameters": []}
        self.flow_id = _post(url, "mutation($input: create_flow_from_compressed_string_input!) "
                                  "{ create_flow_from_compressed_string(input: $input) { id } }",
                             {"input": {"project_id": project, "serialized_flow": compress(flow)}}
                             )["create_flow_from_compressed_string"]["id"]

    def new_run(self, **extra) -> str:
        return _post(self.url, "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
                     {"input": {"flow_id": self.flow_id, **extra}})["create_flow_run"]["id"]

    def set(self, run_id, state):
        entry = {"flow_run_id": run_id, "state": state.serialize()}
        return requests.post(self.url, json={"query": "mutation($input: set_flow_run_states_input!) "
                                                      "{ set_flow_run_states(input: $input) { states { status } } }",
                                             "variables": json.dumps({"input": {"states": [entry]}})},
                             timeout=15).json()

    def start(self, run_id):
        """What an agent and a flow process do: Submitted, then Running, then the tasks start."""
        self.set(run_id, Submitted("taken", state=Scheduled()))
        self.set(run_id, Running("process started"))
        for task_run in self.run(run_id)["task_runs"]:
            self.set_task(task_run["id"], Running("working"))

    def set_task(self, task_run_id, state):
        _post(self.url, "mutation($input: set_task_run_states_input!) "
                        "{ set_task_run_states(input: $input) { states { status } } }",
              {"input": {"states": [{"task_run_id": task_run_id, "state": state.serialize()}]}})

    def run(self, run_id):
        """The run as a user or a waiting parent reads it (`flow_run(where:)`: no sign of life)."""
        rows = _post(self.url, "query($id: uuid!) { flow_run(where: {id: {_eq: $id}}) { state state_message "
                               "state_start_time times_resurrected version task_runs { id state task { slug } } "
                               "logs { level message } } }", {"id": run_id})["flow_run"]
        return rows[0] if rows else None

    def poll(self, run_id):
        """What a flow process does while it runs: read its own run by id (`flow_run_by_pk`,
        Prefect's `Client.get_flow_run_info`), which the backend counts as proof it is alive."""
        return _post(self.url, "query($id: uuid!) { flow_run_by_pk(id: $id) { state version } }",
                     {"id": run_id})["flow_run_by_pk"]

    def task_states(self, run_id):
        return {t["task"]["slug"]: t["state"] for t in self.run(run_id)["task_runs"]}


@pytest.fixture
def backend(tmp_path):
    with EmbeddedServer(database=fresh_database(tmp_path, "recovery")) as server:
        yield Backend(server.url), server


def sweeper(server, policy=None):
    """A sweep of the test's own, driven with a `now` in the future. Its tracker started now
    and adds no time for clients to retry (this file's runs are driven by the test)."""
    policy = policy or RecoveryPolicy(TIMEOUT)
    availability = Availability(policy.heartbeat_timeout.total_seconds(), retry_allowance=0)
    return Recovery(server.app.state.db, policy, server.app.state.polls, availability=availability)


def _sweeper(server, **policy):
    return sweeper(server, RecoveryPolicy(TIMEOUT, **policy))


def test_dead_runs_rerun_their_unfinished_tasks_three_times_then_fail(backend):
    api, server = backend
    sweep = _sweeper(server)
    dead, finished, waiting = api.new_run(), api.new_run(), api.new_run()
    now = dt.datetime.now(dt.timezone.utc)
    api.start(dead)
    api.set(finished, Submitted("taken", state=Scheduled()))
    api.set(finished, Running("started"))
    api.set(finished, Success("done"))

    # within the timeout nothing happens
    assert sweep.run_once(now=now + dt.timedelta(seconds=60)) == {"rescheduled": [], "failed": [], "cancelled": []}
    assert api.run(dead)["state"] == "Running"

    later = now
    for attempt in (1, 2, 3):
        if attempt > 1:  # an agent deploys it again and the new process dies again
            api.start(dead)
        later += TIMEOUT + dt.timedelta(seconds=5)
        assert sweep.run_once(now=later)["rescheduled"] == [dead]
        run = api.run(dead)
        assert run["state"] == "Scheduled" and run["times_resurrected"] == attempt, run
        assert run["state_start_time"] is not None  # due at once
        assert f"attempt {attempt} of 3" in run["state_message"] and "no heartbeat" in run["state_message"]
        # the task without retries goes back to Pending; the one with a retry left retries once
        expected_b = "Retrying" if attempt == 1 else "Pending"
        assert api.task_states(dead) == {"a-1": "Pending", "b-1": expected_b}
        assert any("Rescheduled" in log["message"] and log["level"] == "WARNING" for log in run["logs"])
        # finished and never-started runs are left alone
        assert api.run(finished)["state"] == "Success"
        assert api.run(waiting)["state"] == "Scheduled" and api.run(waiting)["times_resurrected"] == 0

    api.start(dead)
    later += TIMEOUT + dt.timedelta(seconds=5)
    assert sweep.run_once(now=later)["failed"] == [dead]
    run = api.run(dead)
    assert run["state"] == "Failed" and "after 3 reschedules" in run["state_message"], run
    assert set(api.task_states(dead).values()) == {"Failed"}
    assert any(log["level"] == "ERROR" and "Failed" in log["message"] for log in run["logs"])


def test_a_paused_or_retrying_task_keeps_its_run_untouched(backend):
    api, server = backend
    sweep = _sweeper(server)
    paused, retrying = api.new_run(), api.new_run()
    for run_id, state in ((paused, Paused("waiting for approval")),
                          (retrying, Scheduled("retry in an hour"))):
        api.start(run_id)
        api.set_task(api.run(run_id)["task_runs"][0]["id"], state)
    far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    assert sweep.run_once(now=far) == {"rescheduled": [], "failed": [], "cancelled": []}
    assert api.run(paused)["state"] == "Running" and api.run(retrying)["state"] == "Running"


def test_an_orphaned_heartbeat_does_not_keep_a_dead_run_alive(backend):
    """The flow process polls its own run (`flow_run_by_pk`) while it runs; once those polls
    stop, heartbeats (sent by an orphaned heartbeat process) no longer count."""
    api, server = backend
    sweep = _sweeper(server)
    run_id = api.new_run()
    api.start(run_id)
    api.poll(run_id)  # the flow process's own poll
    polled_at = server.app.state.polls.last(run_id)
    assert polled_at is not None

    time.sleep(1.0)  # the flow process dies; its orphaned heartbeat process carries on
    heartbeat = "mutation($input: update_flow_run_heartbeat_input!) { update_flow_run_heartbeat(input: $input) { success } }"
    _post(api.url, heartbeat, {"input": {"flow_run_id": run_id}})
    # judged when the last poll is older than the timeout but the last heartbeat is not
    outcome = sweep.run_once(now=polled_at + TIMEOUT + dt.timedelta(seconds=0.5))
    assert outcome["rescheduled"] == [run_id]
    assert "stopped polling" in api.run(run_id)["state_message"]


def test_a_live_run_that_keeps_polling_is_left_alone(backend):
    api, server = backend
    sweep = _sweeper(server)
    run_id = api.new_run()
    api.start(run_id)
    heartbeat = "mutation($input: update_flow_run_heartbeat_input!) { update_flow_run_heartbeat(input: $input) { success } }"
    _post(api.url, heartbeat, {"input": {"flow_run_id": run_id}})
    api.poll(run_id)
    assert sweep.run_once(now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30))["rescheduled"] == []


def test_a_dead_cancelling_run_becomes_cancelled(backend):
    api, server = backend
    sweep = _sweeper(server)
    run_id = api.new_run()
    api.start(run_id)
    api.set(run_id, Cancelling("user asked"))
    later = dt.datetime.now(dt.timezone.utc) + TIMEOUT + dt.timedelta(seconds=5)
    assert sweep.run_once(now=later)["cancelled"] == [run_id]
    assert api.run(run_id)["state"] == "Cancelled"


def test_disabled_heartbeats_mean_no_judgement(backend):
    api, server = backend
    sweep = _sweeper(server)
    run_id = api.new_run()
    api.start(run_id)
    with server.app.state.db.write() as conn:  # the flow group's settings, as Prefect Server stores them
        conn.execute(sa.text("UPDATE flow_group SET settings = :settings"),
                     {"settings": json.dumps({"heartbeat_enabled": False})})
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    assert sweep.run_once(now=later) == {"rescheduled": [], "failed": [], "cancelled": []}


def test_a_restart_without_start_time_is_due_at_once_and_resets_leftover_running_tasks(backend):
    """How a UI-style restart looks: a Scheduled state with no start time."""
    api, server = backend
    run_id = api.new_run()
    api.start(run_id)
    api.set(run_id, Scheduled("restarted by hand"))
    run = api.run(run_id)
    assert run["state"] == "Scheduled" and run["state_start_time"] is not None
    assert set(api.task_states(run_id).values()) == {"Pending"}
    queue = _post(api.url, "mutation { get_runs_in_queue(input: {}) { flow_run_ids } }")
    assert run_id in queue["get_runs_in_queue"]["flow_run_ids"]


def test_a_rerun_task_needing_a_value_that_was_never_persisted_reruns_its_upstream_too(backend):
    _api, server = backend
    api = Backend(server.url, edges=[("a-1", "b-1")])
    sweep = _sweeper(server)
    lost, kept = api.new_run(), api.new_run()
    for run_id, location in ((lost, None), (kept, '"5"')):
        api.start(run_id)
        a, b = sorted(api.run(run_id)["task_runs"], key=lambda t: t["task"]["slug"])
        success = Success("done").serialize()
        success["_result"] = {"type": "PrefectResult", "location": location, "__version__": "1.4.1"}
        _post(api.url, "mutation($input: set_task_run_states_input!) "
                       "{ set_task_run_states(input: $input) { states { status } } }",
              {"input": {"states": [{"task_run_id": a["id"], "state": success}]}})
    later = dt.datetime.now(dt.timezone.utc) + TIMEOUT + dt.timedelta(seconds=5)
    assert sorted(sweep.run_once(now=later)["rescheduled"]) == sorted([lost, kept])
    assert api.task_states(lost) == {"a-1": "Pending", "b-1": "Retrying"}  # a-1's value is needed again
    assert api.task_states(kept) == {"a-1": "Success", "b-1": "Retrying"}  # persisted: read back


def test_a_task_that_never_started_gets_its_unpersisted_upstream_value_recomputed(backend):
    """The process died after a-1 succeeded (value not persisted) and before b-1 started:
    b-1 is still Pending, runs on the rerun, and needs a-1's value, so a-1 reruns too."""
    _api, server = backend
    api = Backend(server.url, edges=[("a-1", "b-1")])
    sweep = _sweeper(server)
    run_id = api.new_run()
    api.set(run_id, Submitted("taken", state=Scheduled()))
    api.set(run_id, Running("process started"))
    a, b = sorted(api.run(run_id)["task_runs"], key=lambda t: t["task"]["slug"])
    api.set_task(a["id"], Running("working"))
    success = Success("done").serialize()
    success["_result"] = {"type": "PrefectResult", "location": None, "__version__": "1.4.1"}
    _post(api.url, "mutation($input: set_task_run_states_input!) "
                   "{ set_task_run_states(input: $input) { states { status } } }",
          {"input": {"states": [{"task_run_id": a["id"], "state": success}]}})
    later = dt.datetime.now(dt.timezone.utc) + TIMEOUT + dt.timedelta(seconds=5)
    assert sweep.run_once(now=later)["rescheduled"] == [run_id]
    assert api.task_states(run_id) == {"a-1": "Pending", "b-1": "Pending"}


def test_the_sweep_interval_follows_the_timeout():
    assert sweep_interval(10) == 2
    assert sweep_interval(120) == 24
    assert sweep_interval(3600) == 30
    assert sweep_interval(1) == 1


# --- silence the backend caused is no evidence (availability.py) ----------------------------------


def _history(api, run_id):
    return _post(api.url, "query($id: uuid!) { flow_run_state(where: {flow_run_id: {_eq: $id}}, "
                          "order_by: {version: asc}) { state serialized_state } }", {"id": run_id})["flow_run_state"]


def test_silence_before_the_end_of_a_gap_does_not_count(backend):
    api, server = backend
    availability = server.app.state.availability
    sweep = Recovery(server.app.state.db, RecoveryPolicy(TIMEOUT), server.app.state.polls, availability=availability)
    run_id = api.new_run()
    api.start(run_id)
    started = dt.datetime.now(dt.timezone.utc)
    gap_end = started + dt.timedelta(seconds=60)  # the backend could not hear anything until then
    availability.gap("a test gap", ended_at=gap_end.timestamp())
    counts_from = availability.heard_since()  # the gap's end, plus time for clients to retry (32 s)
    assert counts_from == gap_end + dt.timedelta(seconds=32)
    assert sweep.run_once(now=started + TIMEOUT + dt.timedelta(seconds=5))["rescheduled"] == []
    assert sweep.run_once(now=counts_from + TIMEOUT - dt.timedelta(seconds=1))["rescheduled"] == []
    assert sweep.run_once(now=counts_from + TIMEOUT + dt.timedelta(seconds=1))["rescheduled"] == [run_id]
    assert "while the backend could not hear it" in api.run(run_id)["state_message"]


def test_nothing_is_judged_while_the_backend_cannot_hear(backend):
    api, server = backend
    availability = server.app.state.availability
    sweep = Recovery(server.app.state.db, RecoveryPolicy(TIMEOUT), server.app.state.polls, availability=availability)
    run_id = api.new_run()
    api.start(run_id)
    availability.unavailable("database", "a test outage")
    try:
        far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=5)
        assert sweep.run_once(now=far) == {"rescheduled": [], "failed": [], "cancelled": []}
    finally:
        availability.available("database")
    assert api.run(run_id)["state"] == "Running"


def test_a_sweep_during_which_the_process_stopped_is_discarded(backend):
    """After a SIGCONT the sweep may already be past its first look at the clocks: it looks
    again before committing, and throws its work away if the process did not run meanwhile."""
    api, server = backend
    monotonic = _sequence([0.0, 0.5])  # then 30.5: the process was stopped during the sweep
    availability = Availability(TIMEOUT.total_seconds(), clocks=Clocks(
        monotonic=monotonic, wall=lambda: 1_000.0 + monotonic.last, boottime=lambda: None))
    sweep = Recovery(server.app.state.db, RecoveryPolicy(TIMEOUT), server.app.state.polls, availability=availability)
    run_id = api.new_run()
    api.start(run_id)
    far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)  # (the tracker's clocks say 1970)
    monotonic.then(30.5)
    assert sweep.run_once(now=far) == {"rescheduled": [], "failed": [], "cancelled": []}
    assert api.run(run_id)["state"] == "Running"
    monotonic.then(31.0)
    assert sweep.run_once(now=far)["rescheduled"] == [run_id]  # without a stop, the same sweep recovers it


class _sequence:
    """A clock returning the given readings in turn, then the last one (or the next given)."""

    def __init__(self, readings):
        self.readings = list(readings)
        self.last = self.readings[0]

    def then(self, reading):
        self.readings.append(reading)

    def __call__(self):
        if self.readings:
            self.last = self.readings.pop(0)
        return self.last


def test_a_polling_process_is_alive_even_when_its_heartbeats_stopped(backend):
    """Its `prefect heartbeat` subprocess died; its own polls still prove it alive."""
    api, server = backend
    sweep = _sweeper(server)
    run_id = api.new_run()
    api.start(run_id)
    time.sleep(1.0)
    api.poll(run_id)  # a second after the last heartbeat (the state change)
    polled_at = server.app.state.polls.last(run_id)
    assert sweep.run_once(now=polled_at + TIMEOUT - dt.timedelta(seconds=0.5))["rescheduled"] == []
    assert sweep.run_once(now=polled_at + TIMEOUT + dt.timedelta(seconds=0.5))["rescheduled"] == [run_id]


def test_submitted_runs_are_judged_by_the_submitted_timeout(backend):
    api, server = backend
    policy = RecoveryPolicy(TIMEOUT, submitted_timeout=dt.timedelta(seconds=600))
    sweep = sweeper(server, policy)
    run_id = api.new_run()
    api.set(run_id, Submitted("taken", state=Scheduled()))
    submitted_at = dt.datetime.now(dt.timezone.utc)
    assert sweep.run_once(now=submitted_at + dt.timedelta(seconds=590))["rescheduled"] == []
    assert sweep.run_once(now=submitted_at + dt.timedelta(seconds=610))["rescheduled"] == [run_id]
    assert "timeout 600 s" in api.run(run_id)["state_message"]


# --- what a rescheduled or cancelled run's states say (for the tasks) ------------------------------


def test_a_rescheduled_runs_state_is_marked_recovered(backend):
    api, server = backend
    run_id = api.new_run()
    api.start(run_id)
    _sweeper(server).run_once(now=dt.datetime.now(dt.timezone.utc) + TIMEOUT + dt.timedelta(seconds=5))
    latest = _history(api, run_id)[-1]
    assert latest["state"] == "Scheduled"
    assert latest["serialized_state"]["context"] == {"tasks_flowrun_recovered": True}
    api.set(run_id, Scheduled("restarted by a user"))  # a user's restart carries no such mark
    assert "tasks_flowrun_recovered" not in (_history(api, run_id)[-1]["serialized_state"].get("context") or {})
