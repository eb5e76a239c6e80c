"""Waits on the embedded backend learn of changes by held requests (pushed changes), not by
polling; against a backend without them (forced here), they poll as before."""
import threading
import time
import uuid

import prefect
import pytest
from prefect.engine import state as states

from tasks_flowrun import create_flow_run, wait_for_flow_run
from tasks_flowrun.client import ChangeStream, forget_capabilities
from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.settings import ServerSettings
from tasks_flowrun.tasks.errors import WaitTimeoutError
from tests.stores import fresh_database
from tests.tasks.conftest import register_script


def _children(client, project, n):
    register_script("child.py", project)
    with prefect.context(flow_run_id=str(uuid.uuid4()), flow_run_name="p", task_slug="t"):
        ids = []
        for i in range(n):
            with prefect.context(map_index=i):
                ids.append(create_flow_run.run(flow_name="child", project_name=project, parameters={"x": i},
                                               labels=["nowhere"]))
    return ids


def test_a_wait_returns_within_milliseconds_of_the_last_child_finishing(client, project, requests_counter):
    ids = _children(client, project, 5)
    for run_id in ids[:-1]:
        client.set_flow_run_state(run_id, states.Success("done"))
    finished_at = []

    def finish_last():
        time.sleep(2.5)  # longer than the polling backoff's first intervals
        client.set_flow_run_state(ids[-1], states.Success("done"))
        finished_at.append(time.monotonic())

    finisher = threading.Thread(target=finish_last)
    finisher.start()
    with requests_counter() as counted:
        views = wait_for_flow_run.run(flow_run_id=ids, stream_states=False)
    returned_at = time.monotonic()
    finisher.join()  # the change is announced at commit: the wait may return before the setter's answer
    assert all(v.state.is_successful() for v in views)
    assert returned_at - finished_at[0] < 0.5, returned_at - finished_at[0]
    # token, poll, one held request woken by the change, poll, views: no polling meanwhile
    assert counted.requests <= 6, counted.requests


def test_a_quiet_wait_holds_one_request_instead_of_polling(client, project, requests_counter):
    ids = _children(client, project, 3)
    for run_id in ids:
        client.set_flow_run_state(run_id, states.Running("working"))
    with requests_counter() as counted, pytest.raises(WaitTimeoutError):
        wait_for_flow_run.run(flow_run_id=ids, max_duration=3, stream_states=True)
    # polling would have sent 6 requests in 3 s; a held request: token, poll, one hold
    assert counted.requests <= 4, counted.requests


def test_against_a_backend_without_pushed_changes_the_wait_polls(tmp_path, project):
    settings = ServerSettings(port=0, database=fresh_database(tmp_path, "nopush"), push_changes=False)
    forget_capabilities()
    with EmbeddedServer(settings=settings) as server:
        client = prefect.Client(api_server=server.url)
        stream = ChangeStream(client)
        assert stream.start(["00000000-0000-0000-0000-000000000000"]) is False  # 404: poll instead
        assert not stream.available
        with prefect.context(config=_pointed_at(server.url)):
            client.create_project(project)
            ids = _children(client, project, 2)
            threading.Timer(1.5, lambda: [client.set_flow_run_state(i, states.Success("done")) for i in ids]).start()
            views = wait_for_flow_run.run(flow_run_id=ids, stream_states=False)
        assert all(v.state.is_successful() for v in views)
    forget_capabilities()


def _pointed_at(url):
    import copy

    config = copy.deepcopy(prefect.context.config)
    config.cloud.api = url
    config.server.endpoint = url
    config.cloud.graphql = url + "/graphql"
    return config
