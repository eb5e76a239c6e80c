"""The agent queue and the run lifecycle the agent and CloudFlowRunner rely on (queue eligibility, the Submitted lock, heartbeats, versions).

Queue tests call the raw `get_runs_in_queue` mutation; every run here carries labels unique to the test
(or none), so agents started by other tests never take them.
"""
import json
import uuid

import pendulum
import pytest
from prefect.engine.results import PrefectResult
from prefect.engine.state import (
    Cancelled, Cancelling, Retrying, Running, Scheduled, Submitted, Success,
)
from prefect.exceptions import ClientError

from tests.helpers import run_at_once
from tests.server.support import GraphQL, ok_status, unique

CANCEL = "mutation($input: cancel_flow_run_input!) { cancel_flow_run(input: $input) { state } }"


def soon(seconds: float = 10) -> str:
    return pendulum.now("UTC").add(seconds=seconds).isoformat()


def submitted(run: dict) -> Submitted:
    return Submitted(message="Submitted for execution", state=Scheduled(start_time=pendulum.parse(run["scheduled_start_time"])))


# --- get_runs_in_queue ----------------------------------------------------------------------------


def test_label_subset_rule(gql: GraphQL, make_flow, tenant_id: str):
    flow = make_flow()
    l1, l2 = unique("l1"), unique("l2")
    only_l1 = gql.create_flow_run(flow_id=flow.id, labels=[l1])
    l1_and_l2 = gql.create_flow_run(flow_id=flow.id, labels=[l2, l1])
    # Unlabelled and due long ago: the oldest run in the whole queue, so it is within the 25 returned.
    unlabelled = gql.create_flow_run(flow_id=flow.id, labels=[], scheduled_start_time="2000-01-01T00:00:00+00:00")

    assert set(gql.runs_in_queue(tenant_id, [l1], soon())) & {only_l1, l1_and_l2, unlabelled} == {only_l1}
    assert set(gql.runs_in_queue(tenant_id, [l1, l2, "x"], soon())) & {only_l1, l1_and_l2, unlabelled} == {
        only_l1, l1_and_l2,
    }
    assert set(gql.runs_in_queue(tenant_id, [l2], soon())) & {only_l1, l1_and_l2, unlabelled} == set()
    # A labelled agent never takes unlabelled runs; an unlabelled agent takes only unlabelled runs.
    unlabelled_agent = set(gql.runs_in_queue(tenant_id, [], soon()))
    assert unlabelled in unlabelled_agent
    assert not unlabelled_agent & {only_l1, l1_and_l2}


def test_future_runs_are_not_returned_before_they_are_due(gql: GraphQL, make_flow, tenant_id: str):
    flow = make_flow()
    label = unique("future")
    later = gql.create_flow_run(flow_id=flow.id, labels=[label], scheduled_start_time=soon(3600))
    now = gql.create_flow_run(flow_id=flow.id, labels=[label])
    assert gql.runs_in_queue(tenant_id, [label], soon(10)) == [now]
    # `before` compares as an instant whatever its offset.
    before_west = pendulum.now("UTC").add(hours=2).in_tz("America/Los_Angeles").isoformat()
    assert set(gql.runs_in_queue(tenant_id, [label], before_west)) == {now, later}
    past_east = pendulum.now("UTC").subtract(minutes=5).in_tz("Asia/Tokyo").isoformat()
    assert gql.runs_in_queue(tenant_id, [label], past_east) == []


def test_at_most_25_runs_oldest_first(gql: GraphQL, make_flow, tenant_id: str):
    flow = make_flow()
    label = unique("many")
    base = pendulum.now("UTC").subtract(hours=1)
    created = [
        gql.create_flow_run(flow_id=flow.id, labels=[label], scheduled_start_time=base.add(seconds=i).isoformat())
        for i in range(30)
    ]
    queued = gql.runs_in_queue(tenant_id, [label], soon())
    assert len(queued) == 25
    assert set(queued) == set(created[:25])


def test_older_runs_for_other_agents_do_not_starve_the_queue(gql: GraphQL, make_flow, tenant_id: str):
    """Due runs waiting for an agent that is offline (other labels) must not hide this agent's due runs,
    however many of them are older."""
    flow = make_flow()
    offline = unique("offline-agent")
    base = pendulum.now("UTC").subtract(days=1)
    waiting = [
        gql.create_flow_run(flow_id=flow.id, labels=[offline], scheduled_start_time=base.add(seconds=i).isoformat())
        for i in range(80)
    ]
    label = unique("online-agent")
    mine = gql.create_flow_run(flow_id=flow.id, labels=[label])
    try:
        assert gql.runs_in_queue(tenant_id, [label], soon()) == [mine]
        assert len(gql.runs_in_queue(tenant_id, [offline], soon())) == 25
    finally:
        # Leave the queue as we found it, so that the outcome here does not leak into later tests.
        for run_id in waiting + [mine]:
            gql.data(CANCEL, {"input": {"flow_run_id": run_id}})


def test_submitted_runs_leave_the_queue_and_a_second_submit_fails(gql: GraphQL, client, make_flow, tenant_id: str):
    flow = make_flow()
    label = unique("submit")
    run_id = gql.create_flow_run(flow_id=flow.id, labels=[label])
    assert gql.runs_in_queue(tenant_id, [label], soon()) == [run_id]
    run = gql.flow_run(run_id)

    answer = ok_status(gql.set_flow_run_state(run_id, submitted(run), version=run["version"]))
    (status,) = answer["set_flow_run_states"]["states"]
    assert status["id"] and status["status"] == "SUCCESS"
    assert gql.runs_in_queue(tenant_id, [label], soon()) == []
    assert gql.flow_run(run_id)["state"] == "Submitted"

    # Another agent racing for the same run: refused with the text the agent treats as "already taken".
    errors = gql.errors(
        "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { id status message } } }",
        {"input": {"states": [{"flow_run_id": run_id, "version": run["version"], "state": submitted(run).serialize()}]}},
    )
    assert errors[0]["message"].startswith("State update failed"), errors
    with pytest.raises(ClientError, match="State update failed"):
        client.set_flow_run_state(run_id, submitted(run), version=1)
    assert [s["type"] for s in gql.flow_run(run_id)["states"]] == ["Scheduled", "Submitted"]


def test_running_run_with_a_due_retrying_task_run_is_queued(gql: GraphQL, make_flow, tenant_id: str):
    flow = make_flow()
    label = unique("retry")
    due = gql.create_flow_run(flow_id=flow.id, labels=[label])
    not_due = gql.create_flow_run(flow_id=flow.id, labels=[label])
    for run_id, start in [(due, pendulum.now("UTC").subtract(seconds=30)), (not_due, pendulum.now("UTC").add(hours=1))]:
        ok_status(gql.set_flow_run_state(run_id, Running()))
        (task_run,) = gql.flow_run(run_id)["task_runs"]
        ok_status(gql.set_task_run_state(task_run["id"], Retrying(start_time=start)))
    assert gql.runs_in_queue(tenant_id, [label], soon()) == [due]


def test_states_answer_success_and_update_the_run(gql: GraphQL, client, make_flow):
    flow = make_flow()
    run_id = gql.create_flow_run(flow_id=flow.id)
    answer = ok_status(gql.set_flow_run_state(run_id, Running(message="go"), version=1))
    assert answer["set_flow_run_states"]["states"][0]["status"] == "SUCCESS"
    run = gql.flow_run(run_id)
    assert run["state"] == "Running" and run["version"] == 2
    assert run["serialized_state"]["message"] == "go"
    assert [s["type"] for s in run["states"]] == ["Scheduled", "Running"]
    # The version sent with a state other than Running or Submitted is not checked.
    ok_status(gql.set_flow_run_state(run_id, Success(message="done"), version=42))
    assert client.get_flow_run_state(run_id).is_successful()
    assert gql.flow_run(run_id)["version"] == 3


def test_task_running_state_is_refused_unless_the_flow_run_is_running(gql: GraphQL, make_flow):
    flow = make_flow()
    run_id = gql.create_flow_run(flow_id=flow.id)
    (task_run,) = gql.flow_run(run_id)["task_runs"]

    resp = gql.set_task_run_state(task_run["id"], Running())
    body = resp.json()
    assert resp.status_code == 200 and body.get("errors"), body
    assert body["errors"][0]["message"].startswith("State update failed"), body["errors"]
    assert gql.flow_run(run_id)["task_runs"][0]["type"] == "Pending"

    ok_status(gql.set_flow_run_state(run_id, Running()))
    answer = ok_status(gql.set_task_run_state(task_run["id"], Running(), version=1))
    assert answer["set_task_run_states"]["states"][0]["status"] == "SUCCESS"
    assert gql.flow_run(run_id)["task_runs"][0]["type"] == "Running"

    # Once the flow run is Cancelling, no task may start.
    ok_status(gql.set_flow_run_state(run_id, Cancelling()))
    other = gql.data(
        "mutation { get_or_create_task_run_info(input: { flow_run_id: %s, task_id: %s, map_index: 0 }) { id } }"
        % (json.dumps(run_id), json.dumps(task_run["task"]["id"]))
    )["get_or_create_task_run_info"]["id"]
    resp = gql.set_task_run_state(other, Running())
    assert resp.json().get("errors"), resp.text


def test_cached_inputs_carry_forward(gql: GraphQL, client, make_flow):
    flow = make_flow()
    run_id = gql.create_flow_run(flow_id=flow.id)
    ok_status(gql.set_flow_run_state(run_id, Running()))
    (task_run,) = gql.flow_run(run_id)["task_runs"]
    retrying = Retrying(start_time=pendulum.now("UTC"), cached_inputs={"x": PrefectResult(location="42")})
    ok_status(gql.set_task_run_state(task_run["id"], retrying))
    ok_status(gql.set_task_run_state(task_run["id"], Running()))
    state = client.get_task_run_state(task_run["id"])
    assert state.is_running()
    assert "x" in state.cached_inputs and state.cached_inputs["x"].location == "42"


# --- cancellation --------------------------------------------------------------------------------


def test_cancel_a_scheduled_run_cancels_it_and_its_task_runs(gql: GraphQL, client, make_flow):
    flow = make_flow(n_tasks=3)
    run_id = gql.create_flow_run(flow_id=flow.id)
    data = gql.data(CANCEL, {"input": {"flow_run_id": run_id}})
    assert data == {"cancel_flow_run": {"state": "Cancelled"}}
    run = gql.flow_run(run_id)
    assert run["state"] == "Cancelled"
    assert [tr["type"] for tr in run["task_runs"]] == ["Cancelled"] * 3
    # Finished runs are left alone; the answer is the current state name.
    assert client.cancel_flow_run(run_id) == "Cancelled"
    assert [s["type"] for s in gql.flow_run(run_id)["states"]] == ["Scheduled", "Cancelled"]


def test_cancel_a_running_run_asks_it_to_cancel(gql: GraphQL, client, make_flow):
    flow = make_flow(n_tasks=2)
    run_id = gql.create_flow_run(flow_id=flow.id)
    ok_status(gql.set_flow_run_state(run_id, Running()))
    first_task = gql.flow_run(run_id)["task_runs"][0]["id"]
    ok_status(gql.set_task_run_state(first_task, Success()))
    assert client.cancel_flow_run(run_id) == "Cancelling"
    assert gql.flow_run(run_id)["state"] == "Cancelling"
    # The runner then reports Cancelled, which cascades to the non-finished task runs only.
    ok_status(gql.set_flow_run_state(run_id, Cancelled("Flow run is cancelled")))
    run = gql.flow_run(run_id)
    assert run["state"] == "Cancelled"
    types = {tr["id"]: tr["type"] for tr in run["task_runs"]}
    assert types.pop(first_task) == "Success"
    assert list(types.values()) == ["Cancelled"]


def test_cancel_an_unknown_run_is_a_clean_error(gql: GraphQL):
    gql.errors(CANCEL, {"input": {"flow_run_id": str(uuid.uuid4())}})


# --- heartbeats, logs, task run info --------------------------------------------------------------


def test_heartbeat_always_succeeds(gql: GraphQL, client, make_flow):
    unknown = str(uuid.uuid4())
    data = gql.data(
        "mutation { update_flow_run_heartbeat(input: { flow_run_id: %s }) { success } }" % json.dumps(unknown),
        headers={"X-PREFECT-HEARTBEAT-ID": unknown},
    )
    assert data == {"update_flow_run_heartbeat": {"success": True}}
    run_id = gql.create_flow_run(flow_id=make_flow().id)
    client.update_flow_run_heartbeat(run_id)  # raises on any error


def test_write_run_logs_accepts_a_single_object(gql: GraphQL, make_flow):
    run_id = gql.create_flow_run(flow_id=make_flow().id)
    single = {"flow_run_id": run_id, "task_run_id": None, "name": "prefect.execute", "message": "one log", "level": "ERROR",
              "timestamp": pendulum.now("UTC").isoformat()}
    data = gql.data(
        "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
        {"input": {"logs": single}},
    )
    assert data["write_run_logs"]["success"] is True
    # As the agent sends it: no timestamp (defaults to now) and no task_run_id.
    before = pendulum.now("UTC").subtract(seconds=5)
    gql.data(
        "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
        {"input": {"logs": [{"flow_run_id": run_id, "name": "agent", "message": "Submitted for execution: PID: 1", "level": "INFO"}]}},
    )
    logs = gql.data(
        'query { flow_run(where: {id: {_eq: %s}}) { logs(order_by: {timestamp: asc}) { message level timestamp } } }'
        % json.dumps(run_id)
    )["flow_run"][0]["logs"]
    assert [(log["message"], log["level"]) for log in logs] == [("one log", "ERROR"), ("Submitted for execution: PID: 1", "INFO")]
    assert pendulum.parse(logs[1]["timestamp"]) >= before


def test_client_write_run_logs(client, gql: GraphQL, make_flow):
    run_id = gql.create_flow_run(flow_id=make_flow().id)
    client.write_run_logs([
        {"flow_run_id": run_id, "task_run_id": None, "timestamp": pendulum.now("UTC").isoformat(),
         "name": "test", "level": "INFO", "message": f"line {i}"}
        for i in range(3)
    ])
    logs = gql.data('query { flow_run(where: {id: {_eq: %s}}) { logs { message } } }' % json.dumps(run_id))
    assert sorted(log["message"] for log in logs["flow_run"][0]["logs"]) == ["line 0", "line 1", "line 2"]


def test_get_or_create_task_run_info_is_idempotent(gql: GraphQL, client, make_flow):
    flow = make_flow()
    run_id = gql.create_flow_run(flow_id=flow.id)
    (pre_created,) = gql.flow_run(run_id)["task_runs"]
    task_id = pre_created["task"]["id"]

    info = client.get_task_run_info(run_id, task_id, map_index=-1)
    assert info.id == pre_created["id"]
    assert info.state.is_pending()

    first = client.get_task_run_info(run_id, task_id, map_index=0)
    again = client.get_task_run_info(run_id, task_id, map_index=0)
    assert first.id == again.id != pre_created["id"]
    assert again.state.is_pending()

    # Concurrent get-or-create of one mapped child (Dask executors do this) gives one row.
    def fetch():
        return GraphQL(gql.url).data(
            "mutation { get_or_create_task_run_info(input: { flow_run_id: %s, task_id: %s, map_index: 1 }) "
            "{ id version serialized_state } }" % (json.dumps(run_id), json.dumps(task_id))
        )["get_or_create_task_run_info"]["id"]

    ids = run_at_once(fetch, threads=10)
    assert len(set(ids)) == 1
    rows = gql.data(
        'query { task_run(where: {flow_run_id: {_eq: %s}}, order_by: {map_index: asc}) { id map_index } }'
        % json.dumps(run_id)
    )["task_run"]
    assert [row["map_index"] for row in rows] == [-1, 0, 1]

    errors = gql.errors(
        "mutation { get_or_create_task_run_info(input: { flow_run_id: %s, task_id: %s, map_index: -1 }) { id } }"
        % (json.dumps(run_id), json.dumps(str(uuid.uuid4())))
    )
    assert errors[0]["message"]


def test_set_task_run_name(gql: GraphQL, client, make_flow):
    run_id = gql.create_flow_run(flow_id=make_flow().id)
    (task_run,) = gql.flow_run(run_id)["task_runs"]
    assert client.set_task_run_name(task_run["id"], "renamed-child") is True
    rows = gql.data('query { task_run(where: {id: {_eq: %s}}) { name } }' % json.dumps(task_run["id"]))["task_run"]
    assert rows == [{"name": "renamed-child"}]


def test_register_agent_is_idempotent_and_queries_mark_it_alive(gql: GraphQL, client, tenant_id: str):
    name = unique("agent")
    labels = [unique("zz"), unique("aa")]
    agent_id = client.register_agent(agent_type="LocalAgent", name=name, labels=labels)
    assert client.register_agent(agent_type="LocalAgent", name=name, labels=list(reversed(labels))) == agent_id

    def agent_row():
        rows = gql.data("query { agent { name labels last_queried id } }")["agent"]
        return next(row for row in rows if row["id"] == agent_id)

    row = agent_row()
    assert row["name"] == name and row["labels"] == sorted(labels)
    before = pendulum.now("UTC").subtract(seconds=1)
    GraphQL(gql.url).post(
        "mutation($input: get_runs_in_queue_input!) { get_runs_in_queue(input: $input) { flow_run_ids } }",
        {"input": {"tenant_id": tenant_id, "labels": labels, "before": soon()}},
        headers={"X-PREFECT-AGENT-ID": agent_id},
    ).raise_for_status()
    assert pendulum.parse(agent_row()["last_queried"]) >= before
