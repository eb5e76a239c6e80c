"""Pushed pick-up: the agent holds `POST /watch {"queue": true}` and looks for due runs the
moment the backend answers; against a backend without that feed it polls."""
import http.server
import logging
import threading
import time
from typing import Iterator, List

import pytest
import requests
from prefect import Client

from tasks_flowrun.agent.pickup import DuePickup
from tests.helpers import wait_until


def _has_queue_feed(url: str) -> bool:
    answer = requests.post(url + "/watch", json={"queue": True, "token": None, "timeout": 0}, timeout=30)
    return answer.status_code == 200 and answer.json().get("queue") is True


def test_an_idle_agent_is_woken_the_moment_a_run_is_created(server, client, project, backend_env):
    """Polling is off (every 1000 s): only the backend's answer can wake the agent."""
    if not _has_queue_feed(server.url):
        pytest.skip("needs the backend's queue feed on POST /watch (the tasks branch's half of pushed pick-up)")
    wakes: List[float] = []
    pickup = DuePickup(Client(api_server=server.url), lambda: None, lambda: wakes.append(time.monotonic()),
                       poll_interval=1000, logger=logging.getLogger("test"))
    pickup.start()
    try:
        wait_until(lambda: pickup.answers >= 1 and pickup.pushing, timeout=30, what="the first queue answer")
        time.sleep(0.5)  # the feed is held now
        before = len(wakes)
        flow_id = _register_idle_flow(client, project)
        created = time.monotonic()
        client.create_flow_run(flow_id=flow_id)
        wait_until(lambda: len(wakes) > before, timeout=10, interval=0.005, what="a wake-up after the create")
        print(f"woken {(wakes[before] - created) * 1000:.1f} ms after the create returned")
        assert pickup.supported is True
    finally:
        pickup.stop()


@pytest.fixture
def backend_without_watch() -> Iterator[str]:
    """An HTTP endpoint that knows no `/watch` (like Prefect Server): 404 for every POST."""

    class NoWatch(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoWatch)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_without_a_queue_feed_the_agent_polls(backend_without_watch):
    wakes: List[float] = []
    pickup = DuePickup(Client(api_server=backend_without_watch), lambda: wakes.append(time.monotonic()),
                       lambda: None, poll_interval=0.05, logger=logging.getLogger("test"))
    pickup.start()
    try:
        wait_until(lambda: pickup.supported is False, timeout=30, what="the backend to be found without a feed")
        count = len(wakes)
        time.sleep(0.5)
        assert len(wakes) - count >= 3, "no polling after the backend refused the feed"
        assert not pickup.pushing
    finally:
        pickup.stop()


def test_an_announcement_while_no_slot_is_free_waits_for_the_next_free_slot(backend_env):
    """A due run announced while the agent is full costs no look for due runs; the next
    freed slot looks for it (other freed slots do not, when nothing is known to wait)."""
    from prefect.agent.agent import AGENT_WAKE_EVENT

    from tasks_flowrun.agent.warm_agent import WarmAgent

    agent = WarmAgent(labels=["nobody"], no_cloud_logs=True)
    full = [True]
    agent.may_start = lambda: not full[0]  # type: ignore[method-assign]
    AGENT_WAKE_EVENT.clear()
    agent._slot_freed()
    assert not AGENT_WAKE_EVENT.is_set(), "a freed slot looked although nothing was known to wait"
    agent._announced_due()
    assert not AGENT_WAKE_EVENT.is_set(), "an announcement woke a full agent"
    agent._slot_freed()
    assert AGENT_WAKE_EVENT.is_set(), "the freed slot did not look for the announced run"
    AGENT_WAKE_EVENT.clear()
    full[0] = False
    agent._announced_due()
    assert AGENT_WAKE_EVENT.is_set(), "an announcement did not wake an agent with a free slot"
    AGENT_WAKE_EVENT.clear()


def _register_idle_flow(client: Client, project: str) -> str:
    from prefect import Flow, task
    from prefect.run_configs import LocalRun
    from prefect.storage import Local

    @task
    def nothing():
        return None

    with Flow("agent-pickup-idle") as flow:
        nothing()
    flow.storage = Local(add_default_labels=False)
    flow.run_config = LocalRun(labels=["nobody-serves-this"])
    return flow.register(project_name=project, no_url=True)
