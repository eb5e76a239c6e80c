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
