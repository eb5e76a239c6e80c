"""A flow runner that returns with its run still Running.

When a task run's state cannot be set (the backend answered an error, or was out of reach
for all of the client's retries), Prefect's runner leaves the task `ClientFailed` and the
run Running ("terminal tasks are incomplete") and returns normally. Nothing would run the
rest before the backend's heartbeat timeout (120 s by default): the agent reports such a run
as soon as its process exits, and the backend recovers it at once. A run left Running on
purpose (a task Paused for approval, a retry later) is left alone."""
import re
import time
from urllib.parse import urlparse

import pytest

from tests.agent.conftest import OwnAgent
from tests.agent.lossy_proxy import LossyProxy, json_answer
from tests.helpers import prefect_env, wait_until

pytestmark = pytest.mark.e2e

RUNNING_TASK_STATE = re.compile(rb'set_task_run_states[\s\S]*\\?"type\\?"\s*:\s*\\?"Running\\?"')
REFUSAL = json_answer({"errors": [{"message": "injected by the test: the state could not be set",
                                   "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]})


def _refuse_first_running_task_state():
    """Answers the first Running state of any task run with an error, once."""
    done = []

    def instead(request: bytes):
        if done or not RUNNING_TASK_STATE.search(request):
            return None
        done.append(True)
        return REFUSAL

    return instead


def test_a_run_its_runner_left_running_is_recovered_at_once_and_its_task_runs_once(server, test_home, project,
                                                                                   tmp_path):
    target = urlparse(server.url)
    proxy = LossyProxy((target.hostname, target.port), lambda _request: False, _refuse_first_running_task_state())
    agent = OwnAgent(prefect_env(proxy.url, test_home), test_home, proxy.url, project, limit=2)
    try:
        started = time.monotonic()
        run_id = agent.start(agent.register("counted.py"), workdir=str(tmp_path))
        final = agent.final(run_id, timeout=60)  # the backend's heartbeat timeout is 120 s
        assert len(proxy.answered) == 1
        assert final["state"] == "Success", final
        assert final["times_resurrected"] == 1, final
        assert time.monotonic() - started < 60
        assert len((tmp_path / "executions").read_text().splitlines()) == 1
        messages = [s["message"] or "" for s in agent.gql.data(
            'query($id: uuid!) { flow_run_state(where: {flow_run_id: {_eq: $id}}) { message } }',
            {"id": run_id})["flow_run_state"]]
        assert any("flow runner returned with the run still Running" in m for m in messages), messages
    finally:
        agent.stop()
        proxy.close()


def test_a_run_paused_on_purpose_is_left_alone(own_agent):
    agent: OwnAgent = own_agent(limit=2)
    run_id = agent.start(agent.register("paused.py"))

    def paused():
        run = agent.run(run_id)
        return run if [t["state"] for t in run["task_runs"]] == ["Paused"] else None

    wait_until(paused, timeout=60, interval=0.1, what="the task to pause")
    # the runner returned with the run Running: the agent reported it, the backend left it
    wait_until(lambda: "was left Running by its flow runner; the backend left it so" in agent.log_text() or None, timeout=30,
               what=lambda: f"the agent to hear the exit; log: {agent.log_text()[-2000:]}")
    run = agent.run(run_id)
    assert run["state"] == "Running" and run["times_resurrected"] == 0, run
    assert [t["state"] for t in run["task_runs"]] == ["Paused"]
