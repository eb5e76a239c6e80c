"""A real PostgreSQL outage (the cluster halted, then started again on the same port) while a
flow run's process heartbeats: the backend pauses recovery while its database does not
answer (and while its change listener is cut off), then gives the run a full timeout to
report in (plus 32 s for clients to retry), and says so in its log. The run's heartbeats come
back 5 s after the database (as a client backing off would): never rescheduled.

PostgreSQL runs only (a cluster of the test's own: halting it must not disturb other tests).
"""
import logging
import threading
import time

import pytest
import requests
from prefect.engine.state import Running, Scheduled, Submitted

from tasks_flowrun.server.availability import CLIENT_RETRY_PAUSE
from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.settings import ServerSettings
from tests.postgres_cluster import Cluster
from tests.server.test_recovery import Backend

TIMEOUT = 8.0
HEARTBEAT = ("mutation($input: update_flow_run_heartbeat_input!) "
             "{ update_flow_run_heartbeat(input: $input) { success } }")


@pytest.fixture
def cluster(postgres_admin_url):  # (skips on the SQLite run)
    own = Cluster().start()
    try:
        yield own
    finally:
        own.stop()


def test_a_database_outage_pauses_recovery_then_gives_a_full_timeout(cluster, caplog):
    caplog.set_level(logging.INFO, logger="tasks_flowrun.server")
    settings = ServerSettings(port=0, database=cluster.create_database("outage"), heartbeat_timeout=TIMEOUT)
    with EmbeddedServer(settings=settings) as server:
        api = Backend(server.url)
        run_id = api.new_run()
        api.set(run_id, Submitted("taken", state=Scheduled()))
        api.set(run_id, Running("its process started"))
        beating, stop = threading.Event(), threading.Event()
        beating.set()

        def heartbeat() -> None:
            while not stop.wait(1.0):
                if beating.is_set():
                    try:
                        requests.post(server.url, json={"query": HEARTBEAT, "variables": {
                            "input": {"flow_run_id": run_id}}}, timeout=2)
                    except requests.RequestException:
                        pass

        thread = threading.Thread(target=heartbeat, daemon=True)
        thread.start()
        try:
            time.sleep(TIMEOUT + CLIENT_RETRY_PAUSE + 2)  # past the start's grace period: the sweep judges runs
            beating.clear()
            cluster.halt()
            time.sleep(1.5 * TIMEOUT)
            cluster.resume()
            time.sleep(5)
            beating.set()
            deadline = time.monotonic() + TIMEOUT + CLIENT_RETRY_PAUSE + 4
            while time.monotonic() < deadline:
                run = api.run(run_id)
                assert run["state"] == "Running" and run["times_resurrected"] == 0, run
                time.sleep(0.5)
        finally:
            stop.set()
            thread.join(timeout=5)
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "tasks_flowrun.server" and r.levelno >= logging.WARNING]
    paused = [i for i, m in enumerate(warnings) if m.startswith(("Recovery paused: the database does not answer",
                                                                  "Recovery paused: the database has not answered"))]
    assert paused, warnings
    assert any(m.startswith("Recovery paused: the PostgreSQL change listener lost its connection") for m in warnings)
    assert any("the database answers again" in m for m in warnings), warnings
    # once everything answers again, a grace period: a full timeout from then
    assert any("No flow run is judged dead before" in m for m in warnings[paused[0]:]), warnings
