"""Hasura-style query features: where / relationship filters / operators / order_by / limit / _by_pk.

One module-scoped world of projects, flows, runs and logs is built through the real client and raw
GraphQL; every test queries it over HTTP.
"""
import json
import uuid
from types import SimpleNamespace

import pendulum
import pytest
from prefect import Client
from prefect.engine.state import Retrying, Running

from tests.server.support import GraphQL, build_flow, ok_status, register, unique


def q(value) -> str:
    """A GraphQL literal for a string, as `prefect.utilities.graphql` writes it (json.dumps)."""
    return json.dumps(value)


@pytest.fixture(scope="module")
def world(server, backend_env, tmp_path_factory):
    gql = GraphQL(server.url)
    client = Client()
    storage = tmp_path_factory.mktemp("hasura-flows")
    p, other = unique("hasura-p"), unique("hasura-q")
    client.create_project(p)
    client.create_project(other)
    label = unique("hasura-label")

    name_a = unique("flow-a")
    a1 = register(gql, build_flow(name_a, storage_dir=storage, labels=[label]), p)
    a2 = register(gql, build_flow(name_a, n_tasks=2, storage_dir=storage, labels=[label]), p)
    b = register(gql, build_flow(unique("flow-b"), n_tasks=2, storage_dir=storage, labels=[label]), p)
    c = register(gql, build_flow(unique("flow-c"), storage_dir=storage, labels=[label]), other)

    # Runs of flow b: r1 Scheduled (own label), r2 Running with a due Retrying task run,
    # r3 Running with nothing due, r4 Scheduled with a mapped child (map_index 0).
    r1 = gql.create_flow_run(flow_id=b.id, labels=[unique("r1")], flow_run_name="run-one")
    r2 = gql.create_flow_run(flow_id=b.id, flow_run_name="run-two")
    r3 = gql.create_flow_run(flow_id=b.id, flow_run_name="run-three")
    r4 = gql.create_flow_run(flow_id=b.id, flow_run_name="run-four")
    for run_id in (r2, r3):
        ok_status(gql.set_flow_run_state(run_id, Running(message="running")))
    runs = {run_id: gql.flow_run(run_id) for run_id in (r1, r2, r3, r4)}
    r2_task_run = runs[r2]["task_runs"][0]["id"]
    ok_status(gql.set_task_run_state(r2_task_run, Retrying(start_time=pendulum.now("UTC").subtract(minutes=1))))
    task_id = runs[r4]["task_runs"][0]["task"]["id"]
    child = gql.data(
        "mutation { get_or_create_task_run_info(input: { flow_run_id: %s, task_id: %s, map_index: 0 }) { id } }"
        % (q(r4), q(task_id))
    )["get_or_create_task_run_info"]["id"]

    # Three logs on r1, one minute apart, written with different UTC offsets.
    base = pendulum.now("UTC").subtract(minutes=10)
    log_times = [base, base.add(minutes=1), base.add(minutes=2)]
    offsets = ["+00:00", "America/Chicago", "Asia/Tokyo"]
    logs = []
    for i, (when, tz) in enumerate(zip(log_times, offsets)):
        stamp = when.isoformat() if tz == "+00:00" else when.in_tz(tz).isoformat()
        logs.append({"flow_run_id": r1, "timestamp": stamp, "name": "test", "level": "INFO", "message": f"log-{i}"})
    data = gql.data(
        "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
        {"input": {"logs": logs}},
    )
    assert data["write_run_logs"]["success"] is True

    return SimpleNamespace(
        gql=gql, project=p, other_project=other, label=label, a1=a1, a2=a2, b=b, c=c,
        r1=r1, r2=r2, r3=r3, r4=r4, runs=runs, child=child, r2_task_run=r2_task_run, log_times=log_times,
    )


def ids(rows):
    return sorted(row["id"] for row in rows)


# --- relationship filters ---------------------------------------------------------------------------


def test_object_relationship_filter_by_project_name_and_id(world):
    by_name = world.gql.data('query { flow(where: {project: {name: {_eq: %s}}}) { id } }' % q(world.project))["flow"]
    assert ids(by_name) == sorted([world.a1.id, world.a2.id, world.b.id])
    pid = world.gql.data('query { project(where: {name: {_eq: %s}}) { id } }' % q(world.project))["project"][0]["id"]
    by_id = world.gql.data('query { flow(where: {project: {id: {_eq: %s}}}) { id } }' % q(pid))["flow"]
    assert ids(by_id) == ids(by_name)


def test_register_lookup_with_and_as_object_order_by_and_limit(world):
    """B3, exactly as `prefect register` sends it."""
    pid = world.gql.data('query { project(where: {name: {_eq: %s}}) { id } }' % q(world.project))["project"][0]["id"]
    data = world.gql.data(
        'query { flow(where: { _and: { name: { _eq: %s }, project: { id: { _eq: %s } } } }, '
        'order_by: { version: desc }, limit: 1) { id version } }' % (q(world.a1.name), q(pid))
    )
    assert data["flow"] == [{"id": world.a2.id, "version": 2}]
    asc = world.gql.data(
        'query { flow(where: {name: {_eq: %s}}, order_by: {version: asc}) { version archived } }' % q(world.a1.name)
    )["flow"]
    assert asc == [{"version": 1, "archived": True}, {"version": 2, "archived": False}]


def test_flow_view_lookup_by_name_unarchived_and_project(world):
    data = world.gql.data(
        'query { flow(where: { name: { _eq: %s }, archived: { _eq: false }, project: { name: { _eq: %s } } }, '
        'order_by: { created: desc }) { id name archived project { name } } }' % (q(world.a1.name), q(world.project))
    )
    assert data["flow"] == [{"id": world.a2.id, "name": world.a1.name, "archived": False, "project": {"name": world.project}}]


def test_is_null_on_a_relationship_column(world):
    none = world.gql.data(
        'query { flow(where: {name: {_eq: %s}, project: {name: {_is_null: true}}}) { id } }' % q(world.b.name)
    )["flow"]
    assert none == []
    some = world.gql.data(
        'query { flow(where: {name: {_eq: %s}, project: {name: {_is_null: false}}}) { id } }' % q(world.b.name)
    )["flow"]
    assert ids(some) == [world.b.id]


def test_is_null_on_a_column(world):
    # Running has no start_time, so state_start_time is null for r2/r3 and set for the Scheduled r1/r4.
    rows = world.gql.data(
        'query { flow_run(where: {flow_id: {_eq: %s}, state_start_time: {_is_null: true}}) { id } }' % q(world.b.id)
    )["flow_run"]
    assert ids(rows) == sorted([world.r2, world.r3])
    rows = world.gql.data(
        'query { flow_run(where: {flow_id: {_eq: %s}, state_start_time: {_is_null: false}}) { id } }' % q(world.b.id)
    )["flow_run"]
    assert ids(rows) == sorted([world.r1, world.r4])


def test_array_relationship_filter_means_exists(world):
    rows = world.gql.data(
        'query { flow_run(where: {flow_id: {_eq: %s}, task_runs: {map_index: {_eq: 0}}}) { id } }' % q(world.b.id)
    )["flow_run"]
    assert ids(rows) == [world.r4]
    # Every run has task runs with map_index -1: EXISTS, not "all", and no duplicated rows.
    rows = world.gql.data(
        'query { flow_run(where: {flow_id: {_eq: %s}, task_runs: {map_index: {_eq: -1}}}) { id } }' % q(world.b.id)
    )["flow_run"]
    assert len(rows) == 4 and ids(rows) == sorted([world.r1, world.r2, world.r3, world.r4])


def test_agent_metadata_query_with_or_and_exists(world):
    """E2, exactly as the LocalAgent sends it."""
    t = pendulum.now("UTC").subtract(seconds=3).isoformat()
    all_ids = [world.r1, world.r2, world.r3, world.r4]
    data = world.gql.data(
        'query { flow_run(where: { id: { _in: %s }, _or: [{ state: { _eq: "Scheduled" } }, '
        '{ state: { _eq: "Running" }, task_runs: { state_start_time: { _lte: %s } } }] }) { '
        'id version state serialized_state parameters scheduled_start_time run_config name '
        'flow { id name environment storage version core_version } '
        'task_runs(where: { state_start_time: { _lte: %s } }) { id version task_id serialized_state } } }'
        % (json.dumps(all_ids), q(t), q(t))
    )
    rows = {row["id"]: row for row in data["flow_run"]}
    assert sorted(rows) == sorted([world.r1, world.r2, world.r4])
    assert rows[world.r1]["task_runs"] == []
    assert [tr["id"] for tr in rows[world.r2]["task_runs"]] == [world.r2_task_run]
    assert rows[world.r2]["task_runs"][0]["serialized_state"]["type"] == "Retrying"
    assert rows[world.r1]["flow"]["environment"] is None or isinstance(rows[world.r1]["flow"]["environment"], dict)
    assert rows[world.r1]["flow"]["storage"]["type"] == "Local"
    assert rows[world.r1]["serialized_state"]["type"] == "Scheduled"


# --- operators ----------------------------------------------------------------------------------


def test_in_and_nin_including_empty_lists(world):
    gql, flow = world.gql, q(world.b.id)
    everything = sorted([world.r1, world.r2, world.r3, world.r4])
    assert ids(gql.data('query { flow_run(where: {flow_id: {_eq: %s}, id: {_nin: []}}) { id } }' % flow)["flow_run"]) == everything
    assert gql.data('query { flow_run(where: {flow_id: {_eq: %s}, id: {_in: []}}) { id } }' % flow)["flow_run"] == []
    assert ids(gql.data(
        'query { flow_run(where: {flow_id: {_eq: %s}, id: {_in: %s}}) { id } }' % (flow, json.dumps([world.r1, world.r3]))
    )["flow_run"]) == sorted([world.r1, world.r3])
    assert ids(gql.data(
        'query { flow_run(where: {flow_id: {_eq: %s}, id: {_nin: %s}}) { id } }' % (flow, json.dumps([world.r1]))
    )["flow_run"]) == sorted([world.r2, world.r3, world.r4])


def test_task_run_view_queries_nin_empty_and_neq(world):
    """G3 variants: `_nin: []` matches all; `_neq: -1` with `order_by: {map_index: asc}` gives the children."""
    gql = world.gql
    all_rows = gql.data(
        'query { task_run(where: {flow_run_id: {_eq: %s}, id: {_nin: []}}) { id map_index } }' % q(world.r4)
    )["task_run"]
    assert sorted(row["map_index"] for row in all_rows) == [-1, -1, 0]
    static = gql.data(
        'query { task_run(where: {map_index: {_eq: -1}, flow_run_id: {_eq: %s}, id: {_nin: []}}) { id } }' % q(world.r4)
    )["task_run"]
    assert len(static) == 2
    children = gql.data(
        'query { task_run(where: {flow_run_id: {_eq: %s}, map_index: {_neq: -1}}, order_by: {map_index: asc}) '
        '{ id map_index } }' % q(world.r4)
    )["task_run"]
    assert children == [{"id": world.child, "map_index": 0}]


def test_and_as_list_with_an_empty_object_and_or(world):
    gql, flow = world.gql, q(world.b.id)
    rows = gql.data('query { flow_run(where: {_and: [{flow_id: {_eq: %s}}, {}]}) { id } }' % flow)["flow_run"]
    assert len(rows) == 4
    rows = gql.data(
        'query { flow_run(where: {_and: [{flow_id: {_eq: %s}}, {name: {_eq: "run-two"}}]}) { id } }' % flow
    )["flow_run"]
    assert ids(rows) == [world.r2]
    rows = gql.data(
        'query { flow_run(where: {flow_id: {_eq: %s}, _or: [{name: {_eq: "run-one"}}, {name: {_eq: "run-four"}}]}) { id } }'
        % flow
    )["flow_run"]
    assert ids(rows) == sorted([world.r1, world.r4])
    # _or alone is still ANDed with its siblings (run-one of this flow only, not of any flow).
    rows = gql.data(
        'query { flow_run(where: {flow_id: {_eq: %s}, _or: [{name: {_eq: "run-one"}}, {name: {_eq: "nothing"}}]}) { id } }'
        % flow
    )["flow_run"]
    assert ids(rows) == [world.r1]


def test_neq_on_strings_and_eq_on_booleans(world):
    rows = world.gql.data(
        'query { flow_run(where: {flow_id: {_eq: %s}, state: {_neq: "Running"}}) { id } }' % q(world.b.id)
    )["flow_run"]
    assert ids(rows) == sorted([world.r1, world.r4])
    rows = world.gql.data(
        'query { flow(where: {name: {_eq: %s}, archived: {_eq: true}}) { id } }' % q(world.a1.name)
    )["flow"]
    assert ids(rows) == [world.a1.id]


def test_by_pk_returns_null_when_missing(world):
    missing = str(uuid.uuid4())
    assert world.gql.data('query { flow_by_pk(id: %s) { id } }' % q(missing)) == {"flow_by_pk": None}
    assert world.gql.data('query { flow_run_by_pk(id: %s) { id } }' % q(missing)) == {"flow_run_by_pk": None}
    assert world.gql.data('query { flow_run_by_pk(id: %s) { id } }' % q(world.r1))["flow_run_by_pk"] == {"id": world.r1}


def test_nested_selections_with_arguments(world):
    """get_flow_run_info's `task_runs(where: map_index -1)` and F13's `states(where: Scheduled)`."""
    run = world.gql.data(
        'query { flow_run_by_pk(id: %s) { id task_runs(where: { map_index: { _eq: -1 } }) { id task { id slug } version '
        'serialized_state } flow { project { name id } } } }' % q(world.r4)
    )["flow_run_by_pk"]
    assert len(run["task_runs"]) == 2
    assert all(tr["id"] != world.child for tr in run["task_runs"])
    assert run["flow"]["project"]["name"] == world.project

    states = world.gql.data(
        'query { flow_run(where: { id: { _eq: %s } }) { states(where: { state: { _eq: "Scheduled" } }) '
        '{ created start_time } scheduled_start_time } }' % q(world.r2)
    )["flow_run"][0]
    assert len(states["states"]) == 1
    assert pendulum.parse(states["states"][0]["start_time"]) == pendulum.parse(states["scheduled_start_time"])


def test_limit_and_order_by_on_task_runs(world):
    rows = world.gql.data(
        'query { task_run(where: {flow_run_id: {_eq: %s}}, order_by: {map_index: desc}, limit: 1) { map_index } }'
        % q(world.r4)
    )["task_run"]
    assert rows == [{"map_index": 0}]


# --- timestamps -----------------------------------------------------------------------------------


def _logs(world, where: str):
    data = world.gql.data(
        'query { flow_run(where: { id: { _eq: %s } }) { logs(order_by: { timestamp: asc }, where: %s) '
        '{ timestamp message level } } }' % (q(world.r1), where)
    )
    return data["flow_run"][0]["logs"]


def test_watch_logs_query_with_empty_and_element(world):
    end = pendulum.now("Europe/Berlin").isoformat()  # the watcher sends its *local* offset
    logs = _logs(world, '{ _and: [{ timestamp: { _lte: %s } }, {}] }' % q(end))
    assert [log["message"] for log in logs] == ["log-0", "log-1", "log-2"]
    assert all(log["level"] == "INFO" for log in logs)
    assert [pendulum.parse(log["timestamp"]) for log in logs] == world.log_times


def test_log_window_compares_instants_across_offsets(world):
    t0, t1, _ = world.log_times
    end = pendulum.now("Asia/Kolkata").isoformat()
    after_first = t0.in_tz("America/New_York").isoformat()  # strictly after log-0
    logs = _logs(world, '{ _and: [{ timestamp: { _lte: %s } }, { timestamp: { _gt: %s } }] }' % (q(end), q(after_first)))
    assert [log["message"] for log in logs] == ["log-1", "log-2"]
    up_to_second = t1.in_tz("Pacific/Auckland").isoformat()  # _lte is inclusive
    logs = _logs(world, '{ timestamp: { _lte: %s } }' % q(up_to_second))
    assert [log["message"] for log in logs] == ["log-0", "log-1"]


def test_naive_timestamps_are_utc_and_offsets_are_instants(world):
    """F11 sends a naive UTC `_gte`; other filters carry offsets that must compare as instants, not text."""
    created = pendulum.parse(world.runs[world.r1]["states"][0]["timestamp"])
    naive_before = created.subtract(minutes=5).naive().isoformat()
    naive_after = created.add(minutes=5).naive().isoformat()
    where = 'flow_run_id: {_eq: %s}' % q(world.r1)
    before = world.gql.data('query { task_run(where: {%s, state_timestamp: {_gte: %s}}) { id } }' % (where, q(naive_before)))
    after = world.gql.data('query { task_run(where: {%s, state_timestamp: {_gte: %s}}) { id } }' % (where, q(naive_after)))
    assert len(before["task_run"]) == 2 and after["task_run"] == []
    # 5 minutes later, written in UTC-5: textually "smaller" than the stored UTC value, but a later instant.
    later_west = created.add(minutes=5).in_tz("Etc/GMT+5").isoformat()
    rows = world.gql.data('query { task_run(where: {%s, state_timestamp: {_gte: %s}}) { id } }' % (where, q(later_west)))
    assert rows["task_run"] == []
    earlier_east = created.subtract(minutes=5).in_tz("Etc/GMT-9").isoformat()
    rows = world.gql.data('query { task_run(where: {%s, state_timestamp: {_gte: %s}}) { id } }' % (where, q(earlier_east)))
    assert len(rows["task_run"]) == 2


def test_string_literals_are_decoded_with_json_rules(world):
    """Messages go through `json.dumps` literals: escapes, \\uXXXX and surrogate pairs."""
    message = 'Hello, W\u00f6rld! \U0001f389 "quoted" back\\slash\nnew line'
    literal = json.dumps(message)  # ensure_ascii: \u00f6, \ud83c\udf89
    assert "\\ud83c\\udf89" in literal
    data = world.gql.data(
        'mutation { write_run_logs(input: { logs: [{ flow_run_id: %s, message: %s, level: WARNING, '
        'timestamp: %s }] }) { success } }'
        % (q(world.r3), literal, q(pendulum.now("UTC").isoformat()))
    )
    assert data["write_run_logs"]["success"] is True
    logs = world.gql.data(
        'query { flow_run(where: {id: {_eq: %s}}) { logs { message level } } }' % q(world.r3)
    )["flow_run"][0]["logs"]
    assert {"message": message, "level": "WARNING"} in logs
