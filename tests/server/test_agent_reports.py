"""What an agent reports about its flow processes, over HTTP against a real backend:

- `report_dead_flow_run` fenced by `flow_run_version` (the version the agent read and sent
  with its Submitted state): only the deployment that died is recovered, never a later one;
- `report_live_flow_runs`: an agent vouches for its live processes; only runs whose current
  deployment is the agent's own get a heartbeat and a self-poll, which keeps a run whose
  process cannot speak for itself (starved of the interpreter lock) from being judged dead.
"""
import datetime as dt
import json
import time
from typing import Any, Dict, List, Optional

import pytest
import requests
from prefect.engine.state import Running, Scheduled, Submitted, Success

from tasks_flowrun.server.embedded import EmbeddedServer
from tests.server.test_recovery import Backend, _post, sweeper
from tests.stores import fresh_database

TIMEOUT = dt.timedelta(seconds=120)
REPORT_DEAD = ("mutation($input: report_dead_flow_run_input!) "
               "{ report_dead_flow_run(input: $input) { success error } }")
REPORT_LIVE = ("mutation($input: report_live_flow_runs_input!) "
               "{ report_live_flow_runs(input: $input) { success live } }")


@pytest.fixture
def served(tmp_path):
    with EmbeddedServer(database=fresh_database(tmp_path, "reports")) as server:
        yield Backend(server.url), server


def deploy(api: Backend, run_id: str) -> int:
    """What an agent does: read the run's version, send Submitted with it; returns the version read."""
    read = api.run(run_id)["version"]
    entry = {"flow_run_id": run_id, "version": read, "state": Submitted("taken", state=Scheduled()).serialize()}
    body = requests.post(api.url, json={"query": "mutation($input: set_flow_run_states_input!) "
                                                 "{ set_flow_run_states(input: $input) { states { status } } }",
                                        "variables": json.dumps({"input": {"states": [entry]}})}, timeout=15).json()
    assert "errors" not in body, body
    return read


def report_dead(api: Backend, run_id: str, version: Optional[int]) -> Dict[str, Any]:
    input_: Dict[str, Any] = {"flow_run_id": run_id, "reason": "its process exited with -9"}
    if version is not None:
        input_["flow_run_version"] = version
    return _post(api.url, REPORT_DEAD, {"input": input_})["report_dead_flow_run"]


def report_live(api: Backend, runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    return _post(api.url, REPORT_LIVE, {"input": {"flow_runs": runs}})["report_live_flow_runs"]


def heartbeat_of(api: Backend, run_id: str) -> str:
    return _post(api.url, "query($id: uuid!) { flow_run(where: {id: {_eq: $id}}) { heartbeat } }",
                 {"id": run_id})["flow_run"][0]["heartbeat"]


# --- fenced dead reports ------------------------------------------------------------------------


def test_a_dead_report_about_the_current_deployment_recovers_the_run(served):
    api, _ = served
    run_id = api.new_run()
    read = deploy(api, run_id)
    api.set(run_id, Running("process started"))
    assert report_dead(api, run_id, read) == {"success": True, "error": None}
    run = api.run(run_id)
    assert run["state"] == "Scheduled" and run["times_resurrected"] == 1
    assert "reported dead: its process exited with -9" in run["state_message"]


def test_a_dead_report_about_an_earlier_deployment_changes_nothing(served):
    api, _ = served
    run_id = api.new_run()
    first = deploy(api, run_id)
    api.set(run_id, Running("first process"))
    assert report_dead(api, run_id, first)["success"] is True  # rescheduled
    second = deploy(api, run_id)  # deployed again, maybe by another agent
    api.set(run_id, Running("second process"))
    before = api.run(run_id)
    answer = report_dead(api, run_id, first)  # a late report about the first process
    assert answer["success"] is False and "deployed again" in answer["error"], answer
    assert api.run(run_id) == before
    assert report_dead(api, run_id, second)["success"] is True


def test_a_dead_report_without_a_version_behaves_as_before(served):
    api, _ = served
    run_id = api.new_run()
    deploy(api, run_id)
    api.set(run_id, Running("process started"))
    assert report_dead(api, run_id, None)["success"] is True
    answer = report_dead(api, run_id, None)  # now Scheduled: nothing to recover
    assert answer["success"] is False and "not Submitted, Running or Cancelling" in answer["error"]


# --- vouching ----------------------------------------------------------------------------------


def test_vouching_counts_only_for_the_reporting_agents_own_deployment(served):
    api, _ = served
    mine, redeployed, finished, never = api.new_run(), api.new_run(), api.new_run(), api.new_run()
    my_version = deploy(api, mine)
    api.set(mine, Running("my process"))
    old_version = deploy(api, redeployed)
    api.set(redeployed, Running("my old process"))
    report_dead(api, redeployed, old_version)
    deploy(api, redeployed)  # now another agent's process
    done_version = deploy(api, finished)
    api.set(finished, Running("go"))
    api.set(finished, Success("done"))
    before = heartbeat_of(api, mine)
    answer = report_live(api, [{"flow_run_id": mine, "flow_run_version": my_version},
                               {"flow_run_id": redeployed, "flow_run_version": old_version},
                               {"flow_run_id": finished, "flow_run_version": done_version},
                               {"flow_run_id": never, "flow_run_version": 1},
                               {"flow_run_id": "00000000-0000-0000-0000-000000000000", "flow_run_version": 1}])
    assert answer == {"success": True, "live": [mine]}
    assert heartbeat_of(api, mine) > before


def test_vouching_keeps_a_run_that_went_silent_alive_and_only_while_it_lasts(served):
    """A flow process whose interpreter lock is held by a task polls nothing and (in thread
    heartbeat mode) sends no heartbeat; its agent's vouching keeps it alive."""
    api, server = served
    polls = server.app.state.polls
    sweep = sweeper(server)
    vouched, silent = api.new_run(), api.new_run()
    versions = {}
    for run_id in (vouched, silent):
        versions[run_id] = deploy(api, run_id)
        api.set(run_id, Running("process started"))
        api.poll(run_id)  # the flow process's own poll
    last_poll = max(polls.last(vouched), polls.last(silent))
    time.sleep(1.5)  # both processes went silent; the agent vouches for one (its pid is alive)
    assert report_live(api, [{"flow_run_id": vouched, "flow_run_version": versions[vouched]}])["live"] == [vouched]
    vouched_at = polls.last(vouched)
    assert vouched_at - last_poll >= dt.timedelta(seconds=1.5)
    assert sweep.run_once(now=last_poll + TIMEOUT + dt.timedelta(seconds=0.5))["rescheduled"] == [silent]
    assert api.run(vouched)["state"] == "Running"
    # without further vouching (the process died with its agent), it is judged like any other
    assert sweep.run_once(now=vouched_at + TIMEOUT + dt.timedelta(seconds=0.5))["rescheduled"] == [vouched]


def test_vouching_refuses_an_oversized_report(served):
    api, _ = served
    runs = [{"flow_run_id": "00000000-0000-0000-0000-%012d" % i, "flow_run_version": 1} for i in range(10_001)]
    body = requests.post(api.url, json={"query": REPORT_LIVE, "variables": {"input": {"flow_runs": runs}}},
                         timeout=60).json()
    assert "at most 10,000 runs" in body["errors"][0]["message"], body["errors"]
