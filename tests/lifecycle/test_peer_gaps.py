"""Several `tasks-flowrun server` processes on one PostgreSQL database: a flow run talks to
one that is not the leader (which runs recovery). When that one is suspended, or killed,
its flow runs cannot report in, and the leader must not count that silence: it pauses while
the peer is silent, counts a full timeout from the peer's return, and drops a peer gone for
longer than the timeout, counting a full timeout from then. The run's paced client comes
back well within the timeout (see test_backend_outages.py): never rescheduled.

PostgreSQL runs only. Heartbeat timeout 8 s, the peer out for 12 s (1.5x).
"""
import signal
import time
from pathlib import Path

import pytest
from prefect.engine.state import Running, Scheduled, Submitted

from tasks_flowrun.server.availability import CLIENT_RETRY_PAUSE
from tests import stores
from tests.lifecycle.outages import ServerProcess
from tests.lifecycle.test_backend_outages import PacedClient
from tests.server.test_recovery import Backend, _post

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql_e2e]
TIMEOUT = 8


@pytest.fixture
def pair(postgres_admin_url, tmp_path: Path):
    database = str(stores.fresh_database("peers"))
    leader = ServerProcess(database, tmp_path, "--heartbeat-timeout", str(TIMEOUT)).start()
    time.sleep(3)  # its first sweep takes the lead
    other = ServerProcess(database, tmp_path, "--heartbeat-timeout", str(TIMEOUT)).start()
    try:
        assert "took the lead" in leader.log() and "took the lead" not in other.log()
        other.wait_grace_over(TIMEOUT + CLIENT_RETRY_PAUSE)  # both start-up grace periods are over
        yield leader, other
    finally:
        other.stop()
        leader.stop()


def _run_through(peer: ServerProcess):
    api = Backend(peer.url)
    run_id = api.new_run()
    api.set(run_id, Submitted("taken", state=Scheduled()))
    api.set(run_id, Running("its process started"))
    return api, run_id, PacedClient(peer.url, run_id)


def _stays_running(url: str, run_id: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = _post(url, "query($id: uuid!) { flow_run(where: {id: {_eq: $id}}) { state times_resurrected } }",
                    {"id": run_id})["flow_run"][0]
        assert run["state"] == "Running" and run["times_resurrected"] == 0, run
        time.sleep(0.5)


def test_a_suspended_peer_pauses_the_leaders_recovery(pair):
    leader, other = pair
    _api, run_id, client = _run_through(other)
    try:
        time.sleep(2)
        client.beating.clear()
        other.send(signal.SIGSTOP)
        try:
            time.sleep(1.5 * TIMEOUT)
        finally:
            other.send(signal.SIGCONT)
        time.sleep(5)  # the run's process comes back, through the same peer
        client.beating.set()
        _stays_running(leader.url, run_id, TIMEOUT + 4)
    finally:
        client.close()
    assert "has not reported for" in leader.log(), leader.log()[-3000:]


def test_a_peer_gone_for_longer_than_the_timeout_is_dropped_and_its_runs_get_a_full_timeout(pair):
    leader, other = pair
    _api, run_id, client = _run_through(other)
    try:
        time.sleep(2)
        client.beating.clear()
        other.stop(signal.SIGKILL)
        time.sleep(1.5 * TIMEOUT)  # the leader pauses, then drops the peer (after 8 s) and counts from then
        client.url = leader.url  # the run's process finds another server process
        client.beating.set()
        _stays_running(leader.url, run_id, TIMEOUT + 4)
    finally:
        client.close()
    log = leader.log()
    assert "dropped as gone" in log, log[-3000:]
