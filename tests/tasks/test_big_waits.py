"""A wait on any number of runs: 20,000 in one wait (reads and registrations in chunks), and
a backend that forgets the registered sets mid-wait (a restart, an eviction) is told so and
given them again. Through the real backend; the 20,000 runs are written into its database
in one transaction (creating them through the API would take minutes), the rest is HTTP."""
import threading
import time
import uuid

import prefect
from prefect.engine import state as states

from tasks_flowrun import create_flow_run, wait_for_flow_run
from tasks_flowrun.client import change_stream
from tasks_flowrun.server.storage.rows import fetch_row, insert_rows
from tests.tasks.conftest import register_script

MANY = 20_000


def _children(project, n):
    register_script("child.py", project)
    with prefect.context(flow_run_id=str(uuid.uuid4()), flow_run_name="p", task_slug="t"):
        ids = []
        for i in range(n):
            with prefect.context(map_index=i):
                ids.append(create_flow_run.run(flow_name="child", project_name=project, parameters={"x": i},
                                               labels=["nowhere"]))
    return ids


def _clone_finished(server, template_id, n):
    """`n` runs like `template_id`, already Success, written straight into the database."""
    db = server.app.state.db
    with db.read() as conn:
        template = fetch_row(conn, "flow_run", id=template_id)
    success = states.Success("finished before the wait").serialize()
    rows = [{**template, "id": str(uuid.uuid4()), "name": f"clone-{i}", "idempotency_key": None, "state": "Success",
             "serialized_state": success, "version": 3} for i in range(n)]
    with db.write() as conn:
        insert_rows(conn, "flow_run", rows)
    return [row["id"] for row in rows]


def _watch_route(server):
    return next(route.endpoint for route in server.app.routes if getattr(route, "path", None) == "/watch")


def test_a_wait_on_twenty_thousand_runs(client, project, server, requests_counter, monkeypatch):
    running = _children(project, 2)
    for run_id in running:
        client.set_flow_run_state(run_id, states.Running("working"))
    ids = _clone_finished(server, running[0], MANY - 2) + running
    holding = threading.Event()
    real_wait = change_stream.ChangeStream.wait

    def spy(stream, *args, **kwargs):
        holding.set()
        return real_wait(stream, *args, **kwargs)

    monkeypatch.setattr(change_stream.ChangeStream, "wait", spy)

    def finish_once_held():
        holding.wait(120)
        time.sleep(0.3)
        for run_id in running:
            client.set_flow_run_state(run_id, states.Success("done"))

    threading.Thread(target=finish_once_held).start()
    started = time.monotonic()
    with requests_counter() as counted:
        views = wait_for_flow_run.run(flow_run_id=ids, stream_states=False, max_duration=300)
    assert len(views) == MANY and [v.flow_run_id for v in views] == ids
    assert all(v.state.is_successful() for v in views)
    waits = {k: v for k, v in counted.fields.items() if k != "set_flow_run_states"}  # the finishing thread's
    # 20 reads of 1,000 runs, 2 registrations of 10,000 ids; then held requests only
    assert waits["flow_run"] == 20 and 3 <= waits["watch"] <= 5, waits
    assert time.monotonic() - started < 120


def test_sets_forgotten_by_the_backend_are_registered_again(client, project, server, monkeypatch):
    monkeypatch.setattr(change_stream, "CHUNK", 2)  # 5 runs: 3 registered sets
    ids = _children(project, 5)
    for run_id in ids:
        client.set_flow_run_state(run_id, states.Running("working"))
    route = _watch_route(server)
    registered = []
    real_register = change_stream.ChangeStream._register

    def spy(stream, index):
        registered.append(index)
        return real_register(stream, index)

    monkeypatch.setattr(change_stream.ChangeStream, "_register", spy)

    def forget_then_finish():
        time.sleep(0.5)
        route.sets.clear()  # as a restarted (or another) server process knows none
        for run_id in ids:
            client.set_flow_run_state(run_id, states.Success("done"))

    threading.Thread(target=forget_then_finish).start()
    views = wait_for_flow_run.run(flow_run_id=ids, stream_states=False, max_duration=30)
    assert all(v.state.is_successful() for v in views)
    assert registered[:3] == [0, 1, 2] and sorted(registered[3:]) == [0, 1, 2]
