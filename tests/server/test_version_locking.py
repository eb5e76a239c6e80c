"""Version locking (api/locking.py) and the rules after a finished state (api/transitions.py),
over HTTP against a real backend, with the stock Prefect client where a runner would use it.

A runner sends the version it read with each Running state; a late one is refused with
VERSION_LOCKING_ERROR, on which Prefect's client raises VersionLockMismatchSignal. On by
default, per flow group (the Prefect UI's switch: enable/disable_flow_version_lock) and
server-wide (--no-version-locking).
"""
import datetime as dt
import json
from typing import Any, Dict, Optional, Tuple

import pytest
import requests
from prefect import Client
from prefect.exceptions import VersionLockMismatchSignal
from prefect.engine.state import Cancelled, Cached, Failed, Looped, Pending, Running, Scheduled, Submitted, Success
from prefect.exceptions import ClientError

from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.settings import ServerSettings
from tasks_flowrun.writer_header import WRITER_HEADER, new_writer_token
from tests.server.test_recovery import Backend, _post, sweeper
from tests.stores import fresh_database

TIMEOUT = dt.timedelta(seconds=120)
SET_FLOW = ("mutation($input: set_flow_run_states_input!) "
            "{ set_flow_run_states(input: $input) { states { id status message } } }")
SET_TASK = ("mutation($input: set_task_run_states_input!) "
            "{ set_task_run_states(input: $input) { states { id status message } } }")


def _raw(url: str, query: str, variables: Any, writer: Optional[str] = None) -> Dict[str, Any]:
    headers = {WRITER_HEADER: writer} if writer else {}
    return requests.post(url, json={"query": query, "variables": json.dumps(variables)}, headers=headers,
                         timeout=15).json()


def set_flow(api: Backend, run_id: str, state: Any, version: Optional[int] = None,
             writer: Optional[str] = None) -> Dict[str, Any]:
    entry = {"flow_run_id": run_id, "version": version, "state": state.serialize()}
    return _raw(api.url, SET_FLOW, {"input": {"states": [entry]}}, writer)


def set_task(api: Backend, task_run_id: str, state: Any, version: Optional[int] = None,
             writer: Optional[str] = None) -> Dict[str, Any]:
    entry = {"task_run_id": task_run_id, "version": version, "state": state.serialize()}
    return _raw(api.url, SET_TASK, {"input": {"states": [entry]}}, writer)


def code(body: Dict[str, Any]) -> Optional[str]:
    return (body.get("errors") or [{}])[0].get("extensions", {}).get("code")


def message(body: Dict[str, Any]) -> str:
    return (body.get("errors") or [{}])[0].get("message", "")


def task_runs(api: Backend, run_id: str) -> Dict[str, Dict[str, Any]]:
    rows = _post(api.url, "query($id: uuid!) { task_run(where: {flow_run_id: {_eq: $id}}) "
                          "{ id state version task { slug } } }", {"id": run_id})["task_run"]
    return {r["task"]["slug"]: r for r in rows}


def toggle(api: Backend, on: bool) -> bool:
    name = "enable_flow_version_lock" if on else "disable_flow_version_lock"
    # exactly the document the Prefect UI's flow settings switch sends
    document = f"mutation($input: {name}_input!) {{ {name}(input: $input) {{ success error }} }}"
    return _post(api.url, document, {"input": {"flow_id": api.flow_id}})[name]["success"]


def group_settings(api: Backend) -> Dict[str, Any]:
    return _post(api.url, "query($id: uuid!) { flow_by_pk(id: $id) { flow_group { settings } } }",
                 {"id": api.flow_id})["flow_by_pk"]["flow_group"]["settings"]


def running(api: Backend) -> str:
    """A run as a flow process leaves it once its first task started: Running, `a-1` Running."""
    run_id = api.new_run()
    api.start(run_id)
    return run_id


@pytest.fixture
def served(tmp_path):
    with EmbeddedServer(database=fresh_database(tmp_path, "locking")) as server:
        yield Backend(server.url), server


@pytest.fixture
def api(served) -> Backend:
    return served[0]


def test_new_flow_groups_lock_versions(api):
    assert group_settings(api)["version_locking_enabled"] is True


def test_a_late_running_flow_run_state_is_refused_and_the_stock_client_raises_the_lock_signal(api):
    run_id = api.new_run()
    read = api.run(run_id)["version"]  # what a flow process read at its start
    api.set(run_id, Submitted("taken", state=Scheduled()))  # meanwhile someone else moved the run on
    body = set_flow(api, run_id, Running("late"), version=read)
    assert code(body) == "VERSION_LOCKING_ERROR", body
    assert f"not {read}" in message(body)
    assert api.run(run_id)["state"] == "Submitted"
    with pytest.raises(VersionLockMismatchSignal):
        Client(api_server=api.url).set_flow_run_state(run_id, Running("late"), version=read)
    current = api.run(run_id)["version"]
    assert "errors" not in set_flow(api, run_id, Running("on time"), version=current)
    assert api.run(run_id)["state"] == "Running"


def test_a_late_running_task_run_state_is_refused(api):
    run_id = api.new_run()
    api.set(run_id, Submitted("taken", state=Scheduled()))
    api.set(run_id, Running("go"))
    task = task_runs(api, run_id)["a-1"]
    api.set_task(task["id"], Pending("touched by someone else"))
    body = set_task(api, task["id"], Running("late"), version=task["version"])
    assert code(body) == "VERSION_LOCKING_ERROR", body
    with pytest.raises(VersionLockMismatchSignal):
        Client(api_server=api.url).set_task_run_state(task["id"], Running("late"), version=task["version"])
    assert task_runs(api, run_id)["a-1"]["state"] == "Pending"


def test_a_second_running_of_a_running_task_run_is_refused_whatever_its_version(api):
    run_id = running(api)
    task = task_runs(api, run_id)["a-1"]
    assert task["state"] == "Running"
    for version in (task["version"], None):
        body = set_task(api, task["id"], Running("a second process"), version=version)
        assert code(body) == "VERSION_LOCKING_ERROR" and "already Running" in message(body), body


def test_a_stale_submitted_state_is_refused_with_the_submitted_lock_text(api):
    run_id = api.new_run()
    read = api.run(run_id)["version"]
    api.set(run_id, Scheduled("put back in the queue by someone"))
    body = set_flow(api, run_id, Submitted("taken", state=Scheduled()), version=read)
    assert message(body).startswith("State update failed"), body  # what agents read as "taken"
    with pytest.raises(ClientError, match="State update failed"):
        Client(api_server=api.url).set_flow_run_state(run_id, Submitted("taken", state=Scheduled()), version=read)
    assert api.run(run_id)["state"] == "Scheduled"


def test_the_ui_switch_turns_version_locking_off_and_on_for_the_flow(api):
    run_id = api.new_run()
    stale = api.run(run_id)["version"]
    api.set(run_id, Submitted("taken", state=Scheduled()))
    assert toggle(api, on=False) is True
    assert group_settings(api)["version_locking_enabled"] is False
    assert "errors" not in set_flow(api, run_id, Running("accepted, unlocked"), version=stale)
    assert toggle(api, on=True) is True
    assert group_settings(api)["version_locking_enabled"] is True
    other = api.new_run()
    stale = api.run(other)["version"]
    api.set(other, Submitted("taken", state=Scheduled()))
    assert code(set_flow(api, other, Running("refused again"), version=stale)) == "VERSION_LOCKING_ERROR"


def test_the_switch_answers_an_unknown_flow_with_an_error(api):
    body = _raw(api.url, "mutation($input: enable_flow_version_lock_input!) { enable_flow_version_lock(input: $input) "
                         "{ success } }", {"input": {"flow_id": "00000000-0000-0000-0000-000000000000"}})
    assert "Invalid flow ID" in message(body), body


def test_no_version_locking_accepts_stale_versions_server_wide(tmp_path):
    settings = ServerSettings(port=0, database=fresh_database(tmp_path, "unlocked"), version_locking=False)
    with EmbeddedServer(settings=settings) as server:
        api = Backend(server.url)
        assert group_settings(api)["version_locking_enabled"] is True  # the group's own setting is kept
        run_id = running(api)
        task = task_runs(api, run_id)["b-1"]
        api.set_task(task["id"], Pending("touched"))
        assert "errors" not in set_task(api, task["id"], Running("stale but accepted"), version=task["version"])


# --- a process's own retry of a Running state whose answer it lost ------------------------------


def _history(api: Backend, run_id: str) -> list:
    return _post(api.url, "query($id: uuid!) { flow_run_by_pk(id: $id) { states { state } } }",
                 {"id": run_id})["flow_run_by_pk"]["states"]


def started_by_a_process(api: Backend) -> Tuple[str, Dict[str, Any], str]:
    """A Running run whose task `a-1` a process (of the returned writer token) just started:
    the run's id, the task run as the process read it before starting it, the token."""
    run_id = api.new_run()
    api.set(run_id, Submitted("taken", state=Scheduled()))
    api.set(run_id, Running("go"))
    task = task_runs(api, run_id)["a-1"]
    writer = new_writer_token()
    assert "errors" not in set_task(api, task["id"], Running("start"), version=task["version"], writer=writer)
    return run_id, task, writer


def test_a_process_retrying_its_own_running_task_state_is_answered_as_done(api):
    """The first answer was lost (the backend stopped after committing it): the same request
    again, from the same process, succeeds without writing anything."""
    run_id, task, writer = started_by_a_process(api)
    after_first = task_runs(api, run_id)["a-1"]
    retry = set_task(api, task["id"], Running("start"), version=task["version"], writer=writer)
    assert "errors" not in retry and retry["data"]["set_task_run_states"]["states"][0]["status"] == "SUCCESS", retry
    assert task_runs(api, run_id)["a-1"] == after_first  # nothing written: same state, same version
    # then the process goes on as if its first answer had come
    assert "errors" not in set_task(api, task["id"], Success("done"), writer=writer)
    assert task_runs(api, run_id)["a-1"]["state"] == "Success"


def test_anyone_elses_running_state_for_a_running_task_is_still_refused(api):
    run_id, task, _writer = started_by_a_process(api)
    for other in (new_writer_token(), None):  # another process, or a sender with no token
        body = set_task(api, task["id"], Running("a second process"), version=task["version"], writer=other)
        assert code(body) == "VERSION_LOCKING_ERROR", body


def test_a_retry_after_the_run_moved_on_is_refused_even_from_the_same_process(served):
    """Once anything else was written (here: recovery rescheduled the run and the task run is
    Pending again), the token no longer vouches for the sender."""
    api, server = served
    run_id, task, writer = started_by_a_process(api)
    later = dt.datetime.now(dt.timezone.utc) + TIMEOUT + dt.timedelta(seconds=5)
    assert sweeper(server).run_once(now=later)["rescheduled"] == [run_id]
    api.set(run_id, Submitted("deployed again", state=Scheduled()))
    api.set(run_id, Running("the new process"))
    body = set_task(api, task["id"], Running("start"), version=task["version"], writer=writer)
    assert code(body) == "VERSION_LOCKING_ERROR", body
    assert task_runs(api, run_id)["a-1"]["state"] == "Pending"


def test_a_process_retrying_its_own_running_flow_state_is_answered_as_done(api):
    run_id = api.new_run()
    api.set(run_id, Submitted("taken", state=Scheduled()))
    read = api.run(run_id)["version"]
    writer = new_writer_token()
    assert "errors" not in set_flow(api, run_id, Running("start"), version=read, writer=writer)
    states = _history(api, run_id)
    assert "errors" not in set_flow(api, run_id, Running("start"), version=read, writer=writer)
    assert _history(api, run_id) == states and api.run(run_id)["version"] == read + 1
    assert code(set_flow(api, run_id, Running("start"), version=read, writer=new_writer_token())) \
        == "VERSION_LOCKING_ERROR"


# --- the backend's own writes make every unfinished task run's version stale ---------------------


def test_recovery_makes_a_dead_processs_versions_stale(served):
    """A runner of the process judged dead read a task run's version before the reschedule:
    once the run is deployed again, that runner cannot start the task."""
    api, server = served
    run_id = running(api)
    read = task_runs(api, run_id)["b-1"]  # a task runner initialized, about to start `b-1`
    api.set_task(read["id"], Pending("not started yet"))
    read = task_runs(api, run_id)["b-1"]
    sweep = sweeper(server)
    later = dt.datetime.now(dt.timezone.utc) + TIMEOUT + dt.timedelta(seconds=5)
    assert sweep.run_once(now=later)["rescheduled"] == [run_id]
    api.set(run_id, Submitted("deployed again", state=Scheduled()))
    api.set(run_id, Running("the new process"))
    body = set_task(api, read["id"], Running("the old process, late"), version=read["version"])
    assert code(body) == "VERSION_LOCKING_ERROR", body
    assert task_runs(api, run_id)["b-1"]["state"] == "Pending"


def test_cancelling_makes_unstarted_task_runs_versions_stale(api):
    run_id = running(api)
    pending = task_runs(api, run_id)["b-1"]
    api.set_task(pending["id"], Pending("waiting for its upstream"))
    pending = task_runs(api, run_id)["b-1"]
    _post(api.url, "mutation($input: cancel_flow_run_input!) { cancel_flow_run(input: $input) { state } }",
          {"input": {"flow_run_id": run_id}})
    assert task_runs(api, run_id)["b-1"]["version"] == pending["version"] + 1
    assert task_runs(api, run_id)["b-1"]["state"] == "Pending"  # only its version changed


def test_a_restart_resets_the_recovery_budget_and_makes_versions_stale(served):
    api, server = served
    run_id = running(api)
    sweeper(server).run_once(now=dt.datetime.now(dt.timezone.utc) + TIMEOUT + dt.timedelta(seconds=5))
    api.start(run_id)
    api.set_task(task_runs(api, run_id)["b-1"]["id"], Pending("never started"))
    api.set(run_id, Failed("it failed"))
    assert api.run(run_id)["times_resurrected"] == 1
    before = task_runs(api, run_id)
    assert "errors" not in api.set(run_id, Scheduled("restarted by a user"))
    run = api.run(run_id)
    assert run["state"] == "Scheduled" and run["times_resurrected"] == 0
    after = task_runs(api, run_id)
    assert after["b-1"]["state"] == "Pending" and after["b-1"]["version"] == before["b-1"]["version"] + 1
    assert after["a-1"]["version"] > before["a-1"]["version"]  # Running, reset to Pending


# --- finished runs ---------------------------------------------------------------------------------


def test_a_cancelled_run_takes_only_a_restart(api):
    run_id = running(api)
    api.set(run_id, Cancelled("stopped"))
    for late in (Running("late process"), Success("late process"), Failed("late process")):
        body = set_flow(api, run_id, late)
        assert code(body) == "VERSION_LOCKING_ERROR" and "is Cancelled" in message(body), body
        assert api.run(run_id)["state"] == "Cancelled"
    with pytest.raises(VersionLockMismatchSignal):
        Client(api_server=api.url).set_flow_run_state(run_id, Success("late process"))
    assert "errors" not in set_flow(api, run_id, Cancelled("cancelled again (an agent finishing it)"))
    assert "errors" not in set_flow(api, run_id, Scheduled("restart"))
    assert api.run(run_id)["state"] == "Scheduled"


def test_a_cancelled_task_run_takes_only_a_restart(api):
    run_id = running(api)
    api.set(run_id, Cancelled("stopped"))
    task = task_runs(api, run_id)["a-1"]
    assert task["state"] == "Cancelled"
    assert code(set_task(api, task["id"], Success("a late task runner"))) == "VERSION_LOCKING_ERROR"
    assert "errors" not in set_task(api, task["id"], Pending("restart"))


def test_a_finished_run_does_not_run_again_without_a_restart_but_may_be_marked(api):
    run_id = running(api)
    api.set(run_id, Success("done"))
    body = set_flow(api, run_id, Running("late"))
    assert code(body) == "VERSION_LOCKING_ERROR" and "finished" in message(body), body
    # the Prefect UI's "Mark as": one finished state over another, with the version it read
    version = api.run(run_id)["version"]
    assert "errors" not in set_flow(api, run_id, Failed("marked by hand"), version=version)
    assert api.run(run_id)["state"] == "Failed"


def test_a_task_runner_may_still_retry_cache_and_loop(api):
    """What Prefect's task runner writes after a finished state in its own process."""
    run_id = running(api)
    tasks = task_runs(api, run_id)
    a, b = tasks["a-1"], tasks["b-1"]
    assert "errors" not in set_task(api, a["id"], Failed("boom"))
    assert "errors" not in set_task(api, a["id"], Scheduled("retrying"))  # Retrying is a Scheduled
    version = task_runs(api, run_id)["a-1"]["version"]
    assert "errors" not in set_task(api, a["id"], Running("retry"), version=version)
    assert "errors" not in set_task(api, a["id"], Looped("iteration 1 done", loop_count=1))
    version = task_runs(api, run_id)["a-1"]["version"]
    assert "errors" not in set_task(api, a["id"], Running("iteration 2"), version=version)
    assert "errors" not in set_task(api, b["id"], Success("ok"))
    assert "errors" not in set_task(api, b["id"], Cached("cached"))
