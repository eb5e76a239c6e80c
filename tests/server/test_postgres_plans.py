"""PostgreSQL may run a query in parallel workers once tables are large; every statement the
agent's queue poll needs must work in such a plan (forced here on a small database)."""
import json

import psycopg
import pytest
import requests

from tasks_flowrun.server.embedded import EmbeddedServer
from tests import stores

FORCE_PARALLEL = ("force_parallel_mode = on", "parallel_setup_cost = 0", "parallel_tuple_cost = 0",
                  "min_parallel_table_scan_size = 0")


@pytest.fixture
def parallel_database(postgres_admin_url) -> str:
    url = str(stores.fresh_database("parallel"))
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        for setting in FORCE_PARALLEL:  # names and values are ours: safe to inline
            admin.execute(f"ALTER DATABASE {name} SET {setting}")
    return url


def test_the_agent_queue_works_in_a_parallel_plan(parallel_database):
    with EmbeddedServer(port=0, database=parallel_database) as server:
        def gql(query, variables=None):
            answer = requests.post(server.url, json={"query": query, "variables": json.dumps(variables)}).json()
            assert "errors" not in answer, answer
            return answer["data"]

        project = gql('mutation { create_project(input: {name: "p"}) { id } }')["create_project"]["id"]
        flow = {"name": "f", "tasks": [{"slug": "t", "name": "t", "type": "prefect.Task"}], "edges": [],
                "parameters": [], "__version__": "1.4.1"}
        flow_id = gql("mutation($i: create_flow_input!) { create_flow(input: $i) { id } }",
                      {"i": {"serialized_flow": flow, "project_id": project}})["create_flow"]["id"]
        run_ids = {gql("mutation($i: create_flow_run_input!) { create_flow_run(input: $i) { id } }",
                       {"i": {"flow_id": flow_id, "labels": labels}})["create_flow_run"]["id"]
                   for labels in (["x"], ["x", "y"])}
        poll = "mutation($i: get_runs_in_queue_input!) { get_runs_in_queue(input: $i) { flow_run_ids } }"
        due = gql(poll, {"i": {"labels": ["x", "y"], "before": "2100-01-01T00:00:00+00:00"}})
        assert set(due["get_runs_in_queue"]["flow_run_ids"]) == run_ids
        assert gql(poll, {"i": {"labels": [], "before": "2100-01-01T00:00:00+00:00"}})["get_runs_in_queue"] == {
            "flow_run_ids": []}
