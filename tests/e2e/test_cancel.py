"""`cancel_flow_run` on a running flow run ends it Cancelled.

The flow's run config sets PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL=1, so the real CloudFlowRunner
notices Cancelling within about a second instead of 15 s.
"""
import time

import pytest

from tests.e2e.support import FLOWS, register_script, run_logs, wait_for_run
from tests.helpers import wait_until
from tests.server.support import GraphQL

pytestmark = pytest.mark.e2e


def test_cancel_a_running_flow_run(agent, client, project, gql: GraphQL):
    flow_id, flow = register_script(FLOWS / "long_sleep.py", project)
    slugs = {task.name: flow.slugs[task] for task in flow.tasks}
    run_id = client.create_flow_run(flow_id=flow_id, parameters={"seconds": 120})

    def napping():
        run = gql.flow_run(run_id)
        nap = next(tr for tr in run["task_runs"] if tr["task"]["slug"] == slugs["nap"])
        return run["state"] == "Running" and nap["type"] == "Running"

    wait_for_run(gql, run_id, {"Running"}, timeout=90, agent=agent)
    wait_until(napping, timeout=30, what="the nap task to be running")
    cancelled_at = time.monotonic()

    assert client.cancel_flow_run(run_id) == "Cancelling"
    run = wait_for_run(gql, run_id, {"Cancelled"}, timeout=45, agent=agent)
    assert time.monotonic() - cancelled_at < 45  # long before the 120 s nap would have ended

    types = [s["type"] for s in run["states"]]
    assert types[-1] == "Cancelled"
    assert types.index("Cancelling") > types.index("Running"), types
    by_slug = {tr["task"]["slug"]: tr["type"] for tr in run["task_runs"]}
    assert by_slug[slugs["after_nap"]] == "Cancelled", by_slug
    assert by_slug[slugs["nap"]] != "Success", by_slug
    assert not any("this must never run" in log["message"] for log in run_logs(gql, run_id))
