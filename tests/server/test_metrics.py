"""`GET /metrics`: Prometheus text, read with Prometheus' own parser, counting what really happened
against real backends over HTTP."""
import datetime as dt
import threading
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest
import requests
import sqlalchemy as sa
from prefect.engine.state import Running, Scheduled, Submitted, Success
from prefect.utilities.graphql import compress
from prometheus_client.parser import text_string_to_metric_families

from tasks_flowrun.server.api.recovery import RecoveryPolicy
from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.services.recovery import Recovery
from tests.helpers import wait_until
from tests.server.support import GraphQL
from tests.stores import fresh_database

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def scrape(url: str, key: str = None) -> Samples:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = requests.get(f"{url}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")  # Prometheus' text format
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(database=fresh_database(tmp_path, "metrics")) as server:
        yield server


def register_flow(gql: GraphQL) -> str:
    project = gql.data("mutation($input: create_project_input!) { create_project(input: $input) { id } }",
                       {"input": {"name": "metrics"}})["create_project"]["id"]
    flow = {"name": "counted", "tasks": [{"slug": "a-1"}], "edges": [], "parameters": []}
    return gql.data("mutation($input: create_flow_from_compressed_string_input!) "
                    "{ create_flow_from_compressed_string(input: $input) { id } }",
                    {"input": {"project_id": project, "serialized_flow": compress(flow)}}
                    )["create_flow_from_compressed_string"]["id"]


def test_requests_are_counted_by_operation_and_status(backend) -> None:
    gql = GraphQL(backend.url)
    for _ in range(3):
        gql.data("query { hello }")
    gql.errors("query { no_such_field }")
    gql.errors("mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
               {"input": {"flow_id": "00000000-0000-0000-0000-000000000000"}})
    gql.data("query { hello api { backend } }")
    requests.post(backend.url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=5)
    requests.post(backend.url, json=[{"query": "query { hello }"}, {"query": "query { hello }"}], timeout=5)
    requests.get(f"{backend.url}/health", timeout=5)
    samples = scrape(backend.url)
    requests_total = "tasks_flowrun_requests_total"
    assert value(samples, requests_total, operation="hello", status="ok") == 3
    assert value(samples, requests_total, operation="invalid", status="error") == 1
    assert value(samples, requests_total, operation="create_flow_run", status="error") == 1
    assert value(samples, requests_total, operation="multiple", status="ok") == 1
    assert value(samples, requests_total, operation="graphql", status="refused") == 1
    assert value(samples, requests_total, operation="batch", status="ok") == 1
    assert value(samples, requests_total, operation="health", status="ok") == 1
    # the latency histogram saw each request once
    assert value(samples, "tasks_flowrun_request_duration_seconds_count", operation="hello") == 3
    assert value(samples, "tasks_flowrun_request_duration_seconds_bucket", operation="hello", le="+Inf") == 3
    # the scrape itself is counted once it has answered
    assert value(scrape(backend.url), requests_total, operation="metrics", status="ok") == 1


def test_runs_by_state_match_the_database(backend) -> None:
    gql = GraphQL(backend.url)
    flow_id = register_flow(gql)
    runs = [gql.create_flow_run(flow_id=flow_id) for _ in range(4)]
    gql.set_flow_run_state(runs[0], Submitted("taken", state=Scheduled()))
    gql.set_flow_run_state(runs[0], Running("started"))
    gql.set_flow_run_state(runs[1], Submitted("taken", state=Scheduled()))
    gql.set_flow_run_state(runs[1], Running("started"))
    gql.set_flow_run_state(runs[1], Success("done"))
    samples = scrape(backend.url)
    assert value(samples, "tasks_flowrun_flow_runs", state="Scheduled") == 2
    assert value(samples, "tasks_flowrun_flow_runs", state="Running") == 1
    assert value(samples, "tasks_flowrun_flow_runs", state="Success") == 1
    assert value(samples, "tasks_flowrun_database_up") == 1


def test_agent_slots_are_the_runs_it_deployed_still_alive(backend) -> None:
    gql = GraphQL(backend.url)
    flow_id = register_flow(gql)
    agent_id = gql.data("mutation($input: register_agent_input!) { register_agent(input: $input) { id } }",
                        {"input": {"name": "slot-agent", "type": "LocalAgent", "labels": []}})["register_agent"]["id"]
    idle_id = gql.data("mutation($input: register_agent_input!) { register_agent(input: $input) { id } }",
                       {"input": {"name": "idle-agent", "type": "LocalAgent", "labels": ["x"]}})["register_agent"]["id"]
    as_agent = GraphQL(backend.url)
    as_agent.headers["X-Prefect-Agent-Id"] = agent_id
    runs = [gql.create_flow_run(flow_id=flow_id) for _ in range(3)]
    for run in runs:
        as_agent.set_flow_run_state(run, Submitted("taken", state=Scheduled()))
    gql.set_flow_run_state(runs[0], Running("started"))
    slots = "tasks_flowrun_agent_slots_in_use"
    samples = scrape(backend.url)
    assert value(samples, slots, agent_id=agent_id, agent="slot-agent") == 3
    assert value(samples, slots, agent_id=idle_id, agent="idle-agent") == 0
    assert (slots, (("agent", "idle-agent"), ("agent_id", idle_id))) in samples  # listed although idle
    gql.set_flow_run_state(runs[0], Success("done"))
    gql.set_flow_run_state(runs[1], Running("started"))
    assert value(scrape(backend.url), slots, agent_id=agent_id, agent="slot-agent") == 2


def test_recovery_actions_are_counted(backend) -> None:
    gql = GraphQL(backend.url)
    flow_id = register_flow(gql)
    dead = gql.create_flow_run(flow_id=flow_id)
    gql.set_flow_run_state(dead, Submitted("taken", state=Scheduled()))
    gql.set_flow_run_state(dead, Running("started"))
    samples = scrape(backend.url)
    assert value(samples, "tasks_flowrun_recovery_actions_total", action="rescheduled") == 0
    timeout = dt.timedelta(seconds=120)
    sweep = Recovery(backend.app.state.db, RecoveryPolicy(timeout, 3), backend.app.state.polls)
    outcome = sweep.run_once(now=dt.datetime.now(dt.timezone.utc) + timeout * 2)
    assert outcome["rescheduled"] == [dead]
    samples = scrape(backend.url)
    assert value(samples, "tasks_flowrun_recovery_actions_total", action="rescheduled") == 1
    assert value(samples, "tasks_flowrun_recovery_actions_total", action="failed") == 0


def test_waiting_clients_are_the_held_watch_requests(backend) -> None:
    gql = GraphQL(backend.url)
    run = gql.create_flow_run(flow_id=register_flow(gql))
    token = requests.post(f"{backend.url}/watch", json={"flow_run_ids": [run], "timeout": 0}, timeout=10).json()["token"]
    answers = []
    holders = [threading.Thread(target=lambda: answers.append(requests.post(
        f"{backend.url}/watch", json={"flow_run_ids": [run], "token": token, "timeout": 30}, timeout=60).json()))
        for _ in range(2)]
    for holder in holders:
        holder.start()
    wait_until(lambda: value(scrape(backend.url), "tasks_flowrun_watch_waiting") == 2, timeout=20,
               what="two held /watch requests")
    gql.set_flow_run_state(run, Submitted("taken", state=Scheduled()))  # a change answers them
    for holder in holders:
        holder.join(timeout=30)
    assert [a["changed"] for a in answers] == [[run], [run]]
    samples = scrape(backend.url)
    assert value(samples, "tasks_flowrun_watch_waiting") == 0
    assert value(samples, "tasks_flowrun_requests_total", operation="watch", status="ok") == 3


def test_metrics_need_the_api_key_when_the_backend_has_one(tmp_path: Path) -> None:
    with EmbeddedServer(database=fresh_database(tmp_path, "keyed"), api_key="metrics-key") as server:
        refused = requests.get(f"{server.url}/metrics", timeout=10)
        assert "API key" in refused.json()["errors"][0]["message"] and b"tasks_flowrun" not in refused.content
        requests.post(server.url, json={"query": "query { hello }"}, timeout=10)
        samples = scrape(server.url, key="metrics-key")
    assert value(samples, "tasks_flowrun_requests_total", operation="metrics", status="unauthenticated") == 1
    assert value(samples, "tasks_flowrun_requests_total", operation="graphql", status="unauthenticated") == 1


def test_a_scrape_answers_when_the_database_cannot(backend) -> None:
    """The database fails (here: its flow_run table is gone): the scrape still answers, says so
    in tasks_flowrun_database_up, and keeps the process's own counters."""
    GraphQL(backend.url).data("query { hello }")
    with backend.app.state.db.write() as conn:
        conn.execute(sa.text("ALTER TABLE flow_run RENAME TO flow_run_gone"))
    samples = scrape(backend.url)
    assert value(samples, "tasks_flowrun_database_up") == 0
    assert value(samples, "tasks_flowrun_requests_total", operation="hello", status="ok") == 1
    assert not any(name == "tasks_flowrun_flow_runs" for name, _ in samples)


def test_after_a_restart_the_database_figures_remain_and_the_counters_start_again(tmp_path: Path) -> None:
    database = fresh_database(tmp_path, "restarted")
    with EmbeddedServer(database=database) as first:
        gql = GraphQL(first.url)
        flow_id = register_flow(gql)
        for _ in range(3):
            gql.create_flow_run(flow_id=flow_id)
        assert value(scrape(first.url), "tasks_flowrun_requests_total", operation="create_flow_run", status="ok") == 3
    with EmbeddedServer(database=database) as second:
        samples = scrape(second.url)
    assert value(samples, "tasks_flowrun_flow_runs", state="Scheduled") == 3  # read from the database
    # a process's counters start at 0 (Prometheus' rate() and increase() expect that of a restart)
    assert value(samples, "tasks_flowrun_requests_total", operation="create_flow_run", status="ok") == 0


@pytest.mark.e2e
def test_a_real_agents_slots_while_it_runs_a_flow(server, client, project, agent, flows_dir) -> None:
    from tests.e2e.support import FLOWS, register_script, wait_for_run

    gql = GraphQL(server.url)
    flow_id, _ = register_script(FLOWS / "long_sleep.py", project)
    run = client.create_flow_run(flow_id=flow_id, parameters={"seconds": 60})
    wait_for_run(gql, run, {"Running"}, agent=agent)
    agent_id = gql.data("query($id: uuid!) { flow_run_by_pk(id: $id) { agent_id } }", {"id": run})[
        "flow_run_by_pk"]["agent_id"]
    assert agent_id, "the agent's Submitted state names it"

    def alive() -> int:
        return gql.data("query($a: uuid) { flow_run_aggregate(where: {agent_id: {_eq: $a}, state: {_in: "
                        "[\"Submitted\", \"Running\", \"Cancelling\"]}}) { aggregate { count } } }",
                        {"a": agent_id})["flow_run_aggregate"]["aggregate"]["count"]

    slots = value(scrape(server.url), "tasks_flowrun_agent_slots_in_use", agent_id=agent_id, agent="test-agent")
    assert slots >= 1 and slots == alive()
    client.cancel_flow_run(run)
    wait_for_run(gql, run, {"Cancelled"}, agent=agent)
    after = value(scrape(server.url), "tasks_flowrun_agent_slots_in_use", agent_id=agent_id, agent="test-agent")
    assert after == slots - 1 == alive()
