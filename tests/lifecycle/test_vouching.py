"""A task holds its flow process's interpreter lock for longer than the heartbeat timeout
(its process cannot poll its run; under Prefect's stock LocalAgent its `prefect heartbeat`
subprocess still beats, which the backend does not trust alone). The agent that deployed it
vouches for it (`report_live_flow_runs`, with the version it deployed the run at): the run is
never rescheduled and its task runs once. Vouching as an agent whose deployment is not the
current one keeps nothing alive: the run is rescheduled.

The vouching agent is played by the test (what `tasks-flowrun agent` does every few
seconds); the flow process is real. Heartbeat timeout 8 s, the lock held 20 s, once the
backend's start-up grace period (the timeout plus 32 s for clients to retry) is over.
"""
import threading

import pytest

from tasks_flowrun.server.availability import CLIENT_RETRY_PAUSE
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow_fault]

REPORT_LIVE = ("mutation($input: report_live_flow_runs_input!) "
               "{ report_live_flow_runs(input: $input) { success live } }")
HOG_SECONDS = 20


class Voucher:
    """Vouches every second for one run, as the agent that deployed it at `version`."""

    def __init__(self, gql, run_id: str, version: int) -> None:
        self.gql, self.run_id, self.version = gql, run_id, version
        self.live = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                answer = self.gql.data(REPORT_LIVE, {"input": {"flow_runs": [
                    {"flow_run_id": self.run_id, "flow_run_version": self.version}]}})
                self.live.append(answer["report_live_flow_runs"]["live"])
            except Exception:  # the test asserts on outcomes, not on each report
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _deployed_version(outage, run_id: str) -> int:
    """The run's version the agent read and sent with its Submitted state."""
    def submitted():
        versions = [s["version"] for s in outage.run(run_id)["states"] if s["state"] == "Submitted"]
        return versions[-1] if versions else None

    return wait_until(submitted, timeout=60, what="the run to be deployed") - 1


@pytest.mark.parametrize("own_deployment", [True, False], ids=["its-agent", "another-deployment"])
def test_vouching_keeps_a_starved_process_alive_only_for_its_own_deployment(make_outage, own_deployment):
    outage = make_outage(timeout=8)
    flow_id = outage.register()
    outage.server.wait_grace_over(8 + CLIENT_RETRY_PAUSE)
    run_id = outage.start_run(flow_id, hog=HOG_SECONDS)
    version = _deployed_version(outage, run_id)
    voucher = Voucher(outage.gql, run_id, version if own_deployment else version - 1)
    try:
        outage.wait_lines(run_id, "starts")
        if own_deployment:
            final = outage.final(run_id, timeout=120)
            assert final["state"] == "Success" and final["times_resurrected"] == 0, final
            assert len(outage.lines(run_id, "starts")) == 1
            assert [run_id] in voucher.live
        else:
            run = wait_until(lambda: (lambda r: r if r["times_resurrected"] >= 1 else None)(outage.run(run_id)),
                             timeout=HOG_SECONDS + 30, what="the starved run to be rescheduled")
            assert "stopped polling" in " ".join(s["message"] or "" for s in run["states"]), run
            assert all(live == [] for live in voucher.live), voucher.live
    finally:
        voucher.close()
