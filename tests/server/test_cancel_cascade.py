"""Cancelling a parent run cancels its children (and theirs), unless a child was created
detached; the parent is recognised by the `parent_flow_run_id` the plugin records in each
child's context."""
import pytest
from prefect.engine.state import Cancelled, Running, Scheduled, Submitted, Success

from tasks_flowrun.server.embedded import EmbeddedServer
from tests.server.test_recovery import Backend, _post
from tests.stores import fresh_database

CANCEL = "mutation($input: cancel_flow_run_input!) { cancel_flow_run(input: $input) { state } }"


@pytest.fixture
def api(tmp_path):
    with EmbeddedServer(database=fresh_database(tmp_path, "cascade")) as server:
        yield Backend(server.url)


def _child(api, parent_id, **context):
    return api.new_run(context={"parent_flow_run_id": parent_id, **context})


def test_cancelling_a_parent_cancels_its_tree_but_not_detached_or_finished_children(api):
    parent = api.new_run()
    api.start(parent)
    running = _child(api, parent)
    api.start(running)
    waiting = _child(api, parent)
    done = _child(api, parent)
    api.set(done, Submitted("taken", state=Scheduled()))
    api.set(done, Running("go"))
    api.set(done, Success("ok"))
    detached = _child(api, parent, cancel_with_parent=False)
    grandchild = _child(api, waiting)
    unrelated = api.new_run()

    state = _post(api.url, CANCEL, {"input": {"flow_run_id": parent}})["cancel_flow_run"]["state"]
    assert state == "Cancelling"
    states = {name: api.run(run_id)["state"] for name, run_id in [
        ("parent", parent), ("running", running), ("waiting", waiting), ("done", done),
        ("detached", detached), ("grandchild", grandchild), ("unrelated", unrelated)]}
    assert states == {"parent": "Cancelling", "running": "Cancelling", "waiting": "Cancelled",
                      "done": "Success", "detached": "Scheduled", "grandchild": "Cancelled",
                      "unrelated": "Scheduled"}
    assert "Cancelled with its parent" in api.run(waiting)["state_message"]


def test_a_runner_reporting_cancelled_also_cascades(api):
    parent = api.new_run()
    api.start(parent)
    child = _child(api, parent)
    api.set(parent, Cancelled("stopped by its runner"))
    assert api.run(child)["state"] == "Cancelled"


def _latest_context(api, run_id):
    rows = _post(api.url, "query($id: uuid!) { flow_run_state(where: {flow_run_id: {_eq: $id}}, "
                          "order_by: {version: desc}, limit: 1) { state serialized_state } }", {"id": run_id})
    latest = rows["flow_run_state"][0]
    return latest["state"], latest["serialized_state"].get("context") or {}


def test_a_child_cancelled_with_its_parent_says_so_and_keeps_saying_so_once_cancelled(api):
    parent = api.new_run()
    api.start(parent)
    running, waiting, by_user = _child(api, parent), _child(api, parent), _child(api, parent)
    api.start(running)
    _post(api.url, CANCEL, {"input": {"flow_run_id": by_user}})  # a user cancels this one directly
    _post(api.url, CANCEL, {"input": {"flow_run_id": parent}})
    assert _latest_context(api, running) == ("Cancelling", {"cancelled_with_parent": parent})
    assert _latest_context(api, waiting) == ("Cancelled", {"cancelled_with_parent": parent})
    assert _latest_context(api, by_user) == ("Cancelled", {})
    # its process (or its agent, or recovery) finishes the cancellation without the mark
    api.set(running, Cancelled("Flow run is cancelled"))
    assert _latest_context(api, running) == ("Cancelled", {"cancelled_with_parent": parent})
