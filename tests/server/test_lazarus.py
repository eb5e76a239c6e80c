"""Runs whose process died are rescheduled (three times at most), then failed — as Prefect
Server's Lazarus service does — so that nothing waits forever on a dead child."""
import datetime as dt
import json

import requests
from prefect.engine.state import Running, Scheduled, Submitted, Success
from prefect.utilities.graphql import compress

from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.services.lazarus import Lazarus


def _post(url, query, variables=None):
    answer = requests.post(url, json={"query": query, "variables": json.dumps(variables)}, timeout=15).json()
    assert "errors" not in answer, answer
    return answer["data"]


def _new_run(url, flow_id):
    return _post(url, "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
                 {"input": {"flow_id": flow_id}})["create_flow_run"]["id"]


def _set(url, run_id, state):
    _post(url, "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { status } } }",
          {"input": {"states": [{"flow_run_id": run_id, "state": state.serialize()}]}})


def _run(url, run_id):
    return _post(url, f'query {{ flow_run_by_pk(id: "{run_id}") {{ state state_message times_resurrected }} }}')[
        "flow_run_by_pk"]


def test_silent_runs_are_rescheduled_three_times_then_failed(tmp_path):
    with EmbeddedServer(database=tmp_path / "lazarus.db") as server:
        url = server.url
        project = _post(url, "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
                        {"input": {"name": "lazarus"}})["create_project"]["id"]
        flow = {"name": "mortal", "tasks": [{"slug": "a-1"}], "edges": [], "parameters": []}
        flow_id = _post(url, "mutation($input: create_flow_from_compressed_string_input!) "
                             "{ create_flow_from_compressed_string(input: $input) { id } }",
                        {"input": {"project_id": project, "serialized_flow": compress(flow)}}
                        )["create_flow_from_compressed_string"]["id"]
        dead, finished, waiting = _new_run(url, flow_id), _new_run(url, flow_id), _new_run(url, flow_id)
        lazarus = Lazarus(server.app.state.db, silent_for=600)
        now = dt.datetime.now(dt.timezone.utc)

        _set(url, dead, Submitted("taken", state=Scheduled()))
        _set(url, dead, Running("process started"))
        _set(url, finished, Running("process started"))
        _set(url, finished, Success("done"))
        # 5 minutes of silence is within the threshold: nothing happens
        assert lazarus.run_once(now=now + dt.timedelta(minutes=5)) == {"rescheduled": [], "failed": []}
        assert _run(url, dead)["state"] == "Running"

        later = now
        for attempt in (1, 2, 3):
            if attempt > 1:  # the agent deploys it again and the new process dies again
                _set(url, dead, Submitted("taken", state=Scheduled()))
                _set(url, dead, Running("process started"))
            later += dt.timedelta(minutes=11)
            outcome = lazarus.run_once(now=later)
            assert outcome == {"rescheduled": [dead], "failed": []}
            run = _run(url, dead)
            assert run["state"] == "Scheduled" and run["times_resurrected"] == attempt, run
            assert f"attempt {attempt} of 3" in run["state_message"]
            # finished and never-started runs are left alone
            assert _run(url, finished)["state"] == "Success"
            assert _run(url, waiting)["state"] == "Scheduled" and _run(url, waiting)["times_resurrected"] == 0

        _set(url, dead, Submitted("taken", state=Scheduled()))
        _set(url, dead, Running("process started"))
        later += dt.timedelta(minutes=11)
        lazarus.run_once(now=later)
        run = _run(url, dead)
        assert run["state"] == "Failed" and "after 3 reschedules" in run["state_message"], run
