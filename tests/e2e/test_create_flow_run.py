"""Runs created by the real Client / raw GraphQL, executed by the real LocalAgent."""
import json

import pendulum
import pytest
from prefect import Client

from tests.e2e.support import FLOWS, register_script, run_logs, wait_for_run
from tests.helpers import run_at_once, wait_until
from tests.server.support import GraphQL, flow_metadata

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql_e2e]

QUICK = FLOWS / "quick.py"


def state_types(run: dict):
    return [s["type"] for s in run["states"]]


def test_idempotency_key_twice_gives_one_run_executed_once(agent, client, project, gql: GraphQL):
    flow_id, _ = register_script(QUICK, project)
    first = Client().create_flow_run(flow_id=flow_id, idempotency_key="k")
    second = Client().create_flow_run(flow_id=flow_id, idempotency_key="k")
    assert first == second
    run = wait_for_run(gql, first, {"Success", "Failed"}, agent=agent)
    assert run["state"] == "Success", state_types(run)
    assert gql.flow_run_ids(flow_id) == [first]
    assert state_types(run) == ["Scheduled", "Submitted", "Running", "Success"]
    assert [tr["type"] for tr in run["task_runs"]] == ["Success"]
    # The run's logs (agent + flow runner) reach the backend; the runner flushes its last batch at exit.
    wait_until(lambda: any("quick flow ran" in log["message"] for log in run_logs(gql, first)), timeout=30,
               what="the flow's log line")
    assert any(log["message"].startswith("Submitted for execution") for log in run_logs(gql, first))


def test_by_version_group_id_runs_the_newest_unarchived_version(agent, client, project, gql: GraphQL):
    v1, _ = register_script(QUICK, project)
    v2, _ = register_script(QUICK, project)
    meta1, meta2 = flow_metadata(gql, v1), flow_metadata(gql, v2)
    assert meta1["version_group_id"] == meta2["version_group_id"]
    assert (meta1["archived"], meta2["archived"], meta2["version"]) == (True, False, 2)
    run_id = client.create_flow_run(version_group_id=meta1["version_group_id"])
    run = wait_for_run(gql, run_id, {"Success", "Failed"}, agent=agent)
    assert run["flow_id"] == v2
    assert run["state"] == "Success", state_types(run)


def test_raw_graphql_create_flow_run_is_executed(agent, project, gql: GraphQL):
    flow_id, _ = register_script(QUICK, project)
    data = gql.data('mutation { create_flow_run(input: {flow_id: %s}) { id } }' % json.dumps(flow_id))
    run_id = data["create_flow_run"]["id"]
    run = wait_for_run(gql, run_id, {"Success", "Failed"}, agent=agent)
    assert run["state"] == "Success", state_types(run)


def test_a_run_scheduled_ahead_starts_only_when_due(agent, client, project, gql: GraphQL):
    flow_id, _ = register_script(QUICK, project)
    due = pendulum.now("UTC").add(seconds=5)
    run_id = client.create_flow_run(flow_id=flow_id, scheduled_start_time=due)
    # Shortly after creation it is still waiting (the agent sees it early but must not start it).
    early = gql.flow_run(run_id)
    if pendulum.now("UTC") < due.subtract(seconds=1):
        assert early["state"] == "Scheduled", state_types(early)

    run = wait_for_run(gql, run_id, {"Success", "Failed"}, agent=agent)
    assert run["state"] == "Success", state_types(run)
    assert pendulum.parse(run["scheduled_start_time"]) == due
    assert state_types(run) == ["Scheduled", "Submitted", "Running", "Success"]
    tolerance = pendulum.duration(milliseconds=50)  # server and agent share this machine's clock
    for state in run["states"][1:]:
        assert pendulum.parse(state["timestamp"]) >= due - tolerance, (state["type"], state["timestamp"], due)
    start_time = gql.data('query { flow_run_by_pk(id: %s) { start_time end_time } }' % json.dumps(run_id))
    started = pendulum.parse(start_time["flow_run_by_pk"]["start_time"])
    assert started >= due - tolerance
    assert pendulum.parse(start_time["flow_run_by_pk"]["end_time"]) >= started


def test_fifty_threads_with_one_key_create_one_run_executed_once(agent, project, gql: GraphQL):
    flow_id, _ = register_script(QUICK, project)
    ids = run_at_once(lambda: Client().create_flow_run(flow_id=flow_id, idempotency_key="one-key-for-fifty"),
                      threads=50, timeout=90)
    assert len(set(ids)) == 1
    assert gql.flow_run_ids(flow_id) == [ids[0]]
    run = wait_for_run(gql, ids[0], {"Success", "Failed"}, agent=agent)
    assert run["state"] == "Success"
    assert state_types(run).count("Submitted") == 1
