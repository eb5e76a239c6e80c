"""Rows the backend would never write (NaN, text that is not JSON, on SQLite bytes that are
not UTF-8), put straight into the store by another tool: every read still answers, and the
agent keeps getting the other due runs."""
import json
import uuid

import pytest

from tests import stores
from tests.server.attacks.support import Target

BAD_VALUES = {  # (`context` is indexed through the store's JSON functions, which refuse such a write)
    "parameters": '{"x": NaN, "y": [Infinity, -Infinity, 1e999]}',
    "run_config": "{not json at all",
    "state_result": '{"value": NaN}',
}


@pytest.fixture(scope="module")
def poisoned(target: Target):
    """Five due runs with their own label; three of them poisoned, one column each, and on
    SQLite the fourth's name is not UTF-8 (PostgreSQL refuses such text when written)."""
    label = f"poisoned-{uuid.uuid4().hex[:6]}"
    runs = [target.create_run(labels=[label]) for _ in range(5)]
    for run_id, (column, text) in zip(runs, BAD_VALUES.items()):
        stores.execute(target.database, f"UPDATE flow_run SET {column} = ? WHERE id = ?", (text, run_id))
    if not stores.is_postgresql():
        stores.execute(target.database, "UPDATE flow_run SET name = CAST(X'41FF42' AS TEXT) WHERE id = ?",
                       (runs[3],))
    return label, runs


def test_the_agent_still_gets_every_due_run(target: Target, poisoned):
    """The real Prefect agent code: its queue poll, then its follow-up `flow_run` query."""
    from prefect.agent.agent import Agent
    from prefect.utilities.configuration import set_temporary_config

    label, runs = poisoned
    with set_temporary_config({"backend": "server", "server.endpoint": target.url, "cloud.api": target.url}):
        agent = Agent(labels=[label])
        ready = agent._get_ready_flow_runs()
        assert ready == set(runs)
        metadata = agent._get_flow_run_metadata(ready)
    by_id = {run.id: run for run in metadata}
    assert set(by_id) == set(runs)
    assert by_id[runs[0]].parameters == {"x": None, "y": [None, None, None]}  # the bad numbers read as null
    if not stores.is_postgresql():
        assert by_id[runs[3]].name == "A\ufffdB"  # the invalid byte reads as U+FFFD


def test_a_run_whose_labels_are_not_json_does_not_stop_the_queue(target: Target):
    label = f"labels-{uuid.uuid4().hex[:6]}"
    healthy, broken = target.create_run(labels=[label]), target.create_run(labels=[label])
    stores.execute(target.database, "UPDATE flow_run SET labels = ? WHERE id = ?", ('["' + label + '", NaN', broken))
    from prefect.agent.agent import Agent
    from prefect.utilities.configuration import set_temporary_config

    with set_temporary_config({"backend": "server", "server.endpoint": target.url, "cloud.api": target.url}):
        assert Agent(labels=[label])._get_ready_flow_runs() == {healthy}  # the broken one is skipped
        assert healthy not in Agent(labels=[])._get_ready_flow_runs()


def test_every_read_of_a_poisoned_run_answers_json(target: Target, poisoned):
    _label, runs = poisoned
    ids = json.dumps(runs)
    for query in (
        "query { flow_run(where: {id: {_in: %s}}) { id parameters context run_config state_result } }" % ids,
        "query { flow_run_by_pk(id: %s) { id parameters context } }" % json.dumps(runs[1]),
        "query { flow_run_by_pk(id: %s) { id name } }" % json.dumps(runs[3]),
        "query { task_run(where: {flow_run_id: {_in: %s}}) { id flow_run { parameters context run_config } } }" % ids,
    ):
        resp = target.gql(query)
        assert resp.status_code == 200, resp.text
        assert not resp.json().get("errors"), resp.text
    rows = target.data("query { flow_run(where: {id: {_in: %s}}) { id run_config } }" % ids)["flow_run"]
    assert {r["id"]: r["run_config"] for r in rows}[runs[1]] is None  # undecodable text reads as null
    target.assert_healthy()


def test_views_of_a_poisoned_run_construct(target: Target, poisoned):
    from prefect.backend import FlowRunView
    from prefect.utilities.configuration import set_temporary_config

    _label, runs = poisoned
    with set_temporary_config({"backend": "server", "server.endpoint": target.url, "cloud.api": target.url}):
        view = FlowRunView.from_flow_run_id(runs[0])
    assert view.parameters == {"x": None, "y": [None, None, None]}
