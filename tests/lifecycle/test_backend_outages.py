"""The backend stopped, killed or suspended while a flow run's task runs, then back on the
same database: the run is never rescheduled, its task runs once, the run ends Success. Then
a late process: one that reports Running after recovery handed its run to another process is
refused and runs nothing.

Times are scaled down: an 8 s heartbeat timeout, outages of 12 s (1.5x). After a gap the
backend waits a full timeout plus 32 s (the longest pause of Prefect's client between two
retries of a failed request) before it judges a run; each test watches the run past that.
With Prefect's stock LocalAgent (its flow processes heartbeat from a `prefect heartbeat`
subprocess and poll their run, every 2 s here) the runs' signs of life come back when
Prefect's client retries, at times the test does not control; the `paced client` tests make
the same points deterministically, with a client that comes back 5 s after the backend
(well within the grace period, but after the backend's first sweeps). Each test counts side
effects (lines in marker files), not only final states.

The test reads runs with `flow_run(where:)`: a by-id read would count as the flow process's
own poll, a sign of life.
"""
import signal
import threading
import time
from pathlib import Path
import pytest
import requests
from prefect.engine.state import Running, Scheduled, Submitted

from tasks_flowrun.server.availability import CLIENT_RETRY_PAUSE
from tests.helpers import wait_until
from tests.lifecycle.outages import Outage
from tests.server.test_recovery import Backend

pytestmark = [pytest.mark.e2e, pytest.mark.slow_fault, pytest.mark.backend_outage]

TIMEOUT = 8
OUTAGE = 12  # 1.5x the timeout
GRACE = TIMEOUT + CLIENT_RETRY_PAUSE  # after a gap, no judgement for this long
COMEBACK = 5.0  # seconds the paced client waits after the backend is back before heartbeating again
HEARTBEAT = ("mutation($input: update_flow_run_heartbeat_input!) "
             "{ update_flow_run_heartbeat(input: $input) { success } }")


def _running_task(outage: Outage) -> str:
    """A run whose `work` task is running (and whose process has heartbeat and polled)."""
    flow_id = outage.register()
    run_id = outage.start_run(flow_id)
    outage.wait_lines(run_id, "starts")
    time.sleep(3)  # a heartbeat and a poll or two reach the backend
    assert outage.run(run_id)["state"] == "Running"
    return run_id


def _stays_running(outage: Outage, run_id: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = outage.run(run_id)
        assert run["state"] == "Running", run
        time.sleep(0.5)


def _ran_once_and_succeeded(outage: Outage, run_id: str) -> None:
    outage.release()
    final = outage.final(run_id)
    assert final["state"] == "Success", final
    assert final["times_resurrected"] == 0, final
    assert outage.history(run_id) == ["Scheduled", "Submitted", "Running", "Success"]
    assert len(outage.lines(run_id, "starts")) == 1  # the task's side effect happened once
    assert len(outage.lines(run_id, "after")) == 1


# --- Prefect's stock LocalAgent and flow processes ------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "terminated"])
def test_a_backend_down_for_longer_than_the_timeout_reschedules_nothing(make_outage, signum):
    outage = make_outage(timeout=TIMEOUT)
    run_id = _running_task(outage)
    outage.server.stop(signum)
    time.sleep(OUTAGE)
    outage.server.start()  # same port, same database
    _stays_running(outage, run_id, GRACE + 4)  # past the grace period (and a sweep) after the restart
    _ran_once_and_succeeded(outage, run_id)


def test_a_backend_suspended_for_longer_than_the_timeout_reschedules_nothing(make_outage):
    outage = make_outage(timeout=TIMEOUT)
    run_id = _running_task(outage)
    outage.server.send(signal.SIGSTOP)
    try:
        time.sleep(OUTAGE)
    finally:
        outage.server.send(signal.SIGCONT)
    _stays_running(outage, run_id, GRACE + 4)
    _ran_once_and_succeeded(outage, run_id)
    log = outage.server.log()
    assert "Recovery grace period: the backend process did not run for" in log, log[-3000:]


def test_a_late_process_cannot_start_a_run_recovery_handed_to_another(make_outage):
    """The first process deployed for the run stops before it reports Running (after it read
    the run's version); the Submitted timeout passes, recovery reschedules the run, the agent
    deploys a second process, which runs the task. Then the first one goes on: its Running
    carries a stale version and is refused; it starts nothing."""
    outage = make_outage(timeout=TIMEOUT)
    flow_id = outage.register()
    run_id = outage.start_run(flow_id, hold_first=True)
    [held_pid] = outage.wait_lines(run_id, "held")
    outage.wait_lines(run_id, "starts", timeout=120)  # the second process runs `work`
    run = outage.run(run_id)
    assert run["state"] == "Running" and run["times_resurrected"] == 1, run
    outage.release("go")  # the first process goes on, late
    wait_until(lambda: _ended(int(held_pid)), timeout=60, what="the late process to end")
    assert len(outage.lines(run_id, "starts")) == 1  # the late process started nothing
    assert outage.history(run_id).count("Running") == 1
    outage.release()
    final = outage.final(run_id)
    assert final["state"] == "Success", final
    assert len(outage.lines(run_id, "starts")) == 1 and len(outage.lines(run_id, "after")) == 1


def _ended(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


# --- a paced client: signs of life come back 5 s after the backend, deterministically --------------


class PacedClient:
    """A flow process's signs of life as the test paces them: a heartbeat every second while
    `beating` is set."""

    def __init__(self, url: str, run_id: str) -> None:
        self.url, self.run_id = url, run_id
        self.beating = threading.Event()
        self.beating.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(1.0):
            if self.beating.is_set():
                try:
                    requests.post(self.url, json={"query": HEARTBEAT,
                                                  "variables": {"input": {"flow_run_id": self.run_id}}}, timeout=1)
                except requests.RequestException:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _paced_run(outage: Outage) -> "tuple[Backend, str, PacedClient]":
    api = Backend(outage.server.url)
    run_id = api.new_run()
    api.set(run_id, Submitted("taken", state=Scheduled()))
    api.set(run_id, Running("its process started"))
    return api, run_id, PacedClient(outage.server.url, run_id)


def _after_outage(api: Backend, client: PacedClient, run_id: str) -> None:
    time.sleep(COMEBACK)
    client.beating.set()
    deadline = time.monotonic() + GRACE + 4
    while time.monotonic() < deadline:
        run = api.run(run_id)
        assert run["state"] == "Running" and run["times_resurrected"] == 0, run
        time.sleep(0.5)


def test_paced_client_a_restarted_backend_waits_a_full_timeout_before_judging(make_outage):
    outage = make_outage(timeout=TIMEOUT, agent=False)
    api, run_id, client = _paced_run(outage)
    try:
        time.sleep(2)
        client.beating.clear()
        outage.server.stop(signal.SIGKILL)
        time.sleep(OUTAGE)
        outage.server.start()
        _after_outage(api, client, run_id)
    finally:
        client.close()


def test_paced_client_a_resumed_backend_waits_a_full_timeout_before_judging(make_outage):
    outage = make_outage(timeout=TIMEOUT, agent=False)
    api, run_id, client = _paced_run(outage)
    try:
        time.sleep(2)
        client.beating.clear()
        outage.server.send(signal.SIGSTOP)
        try:
            time.sleep(OUTAGE)
        finally:
            outage.server.send(signal.SIGCONT)
        _after_outage(api, client, run_id)
    finally:
        client.close()
    assert "Recovery grace period: the backend process did not run for 1" in outage.server.log()
