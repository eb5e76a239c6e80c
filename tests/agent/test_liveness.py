"""Liveness, end to end on a backend with a 6 s heartbeat timeout: the agent vouches for the
flow processes it sees alive (a task holding the interpreter lock starves the process's own
heartbeats), reports the ones that exit at once, and fences its reports on its own
deployment of the run.

The tests marked "needs the backend's ..." run once the embedded backend has the mutation
(they skip, saying so, against a backend without it)."""
import logging
import os
import signal
import time
from pathlib import Path

import pytest
from prefect import Client
from prefect.engine.state import Running, Submitted
from prefect.utilities.configuration import set_temporary_config

from tasks_flowrun.agent.backend import Backend
from tests.agent.conftest import SHORT_HEARTBEAT_TIMEOUT, prefect_config
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow_fault]


def _lines(path: Path) -> list:
    return path.read_text().split() if path.exists() else []


def _has_mutation(url: str, name: str) -> bool:
    from tests.server.support import GraphQL

    answer = GraphQL(url).data("{ __schema { mutationType { fields { name } } } }")
    return name in {f["name"] for f in answer["__schema"]["mutationType"]["fields"]}


def test_a_task_holding_the_interpreter_lock_is_not_judged_dead_while_its_process_lives(
        short_timeout_agent, short_timeout_backend, tmp_path):
    """The task holds the lock for 20 s (over three heartbeat timeouts): the process's own
    heartbeats and state polls stop, the agent's vouching keeps the run alive; it ends
    Success in its first and only process."""
    if not _has_mutation(short_timeout_backend.url, "report_live_flow_runs"):
        pytest.skip("needs the backend's report_live_flow_runs mutation (the server's half of vouching)")
    agent = short_timeout_agent()
    run_id = agent.start(agent.register("gil_holder.py"), workdir=str(tmp_path), seconds=20)
    stem = tmp_path / run_id
    wait_until(lambda: _lines(Path(f"{stem}.starts")), timeout=60, what="the task to start")
    run = agent.final(run_id, timeout=90)
    assert run["state"] == "Success", run
    assert run["times_resurrected"] == 0, run
    assert len(_lines(Path(f"{stem}.starts"))) == 1, "the run was started again beside its live process"
    assert _lines(Path(f"{stem}.ends")) == ["done"]


def test_a_flow_process_that_exits_is_reported_at_once_while_runs_are_vouched_for(short_timeout_agent, tmp_path):
    """Killed during its lock-holding task, the process is reported by the agent (well before
    the 6 s timeout) and the run reruns in a new process."""
    agent = short_timeout_agent()
    run_id = agent.start(agent.register("gil_holder.py"), workdir=str(tmp_path), seconds=4)
    starts = Path(f"{tmp_path / run_id}.starts")
    wait_until(lambda: _lines(starts), timeout=60, what="the task to start")
    killed_at = time.monotonic()
    os.kill(int(_lines(starts)[0]), signal.SIGKILL)
    wait_until(lambda: agent.run(run_id)["times_resurrected"] == 1, timeout=SHORT_HEARTBEAT_TIMEOUT / 2,
               interval=0.05, what="the run to be rescheduled on the agent's report")
    reported = time.monotonic() - killed_at
    run = agent.final(run_id, timeout=60)
    assert run["state"] == "Success" and run["times_resurrected"] == 1, run
    assert len(_lines(starts)) == 2
    print(f"kill -> rescheduled in {reported:.2f} s (timeout {SHORT_HEARTBEAT_TIMEOUT:.0f} s)")


def test_a_late_dead_report_does_not_recover_a_run_deployed_again(short_timeout_backend):
    """The agent's report names the deployment it saw die (`flow_run_version`): once the run
    was recovered and deployed again, a late report of the old deployment changes nothing."""
    backend_info = short_timeout_backend
    with set_temporary_config(prefect_config(backend_info.url, backend_info.home)):
        client = Client(api_server=backend_info.url)
        flow_id = _register_idle_flow(client, backend_info.project)
        run_id = client.create_flow_run(flow_id=flow_id)
        backend = Backend(client, logging.getLogger("test"))
        first = _deploy(client, run_id)
        report = backend.report_dead(run_id, "killed", first)
        assert report.recovered, report
        if backend.fences_dead_reports is False:
            pytest.skip("needs the backend's report_dead_flow_run(flow_run_version) (the server's half of fencing); "
                        "the report was sent without it")
        assert client.get_flow_run_info(run_id).state.is_scheduled()
        second = _deploy(client, run_id)
        late = backend.report_dead(run_id, "the first process, reported late", first)
        assert not late.recovered and late.error, late
        info = client.get_flow_run_info(run_id)
        assert info.state.is_running() and info.version == second + 2  # Submitted, then Running: untouched
        assert backend.report_dead(run_id, "the second process died", second).recovered


def test_vouching_needs_the_agents_own_deployment(short_timeout_backend):
    """`report_live_flow_runs` counts a run only for the deployment the agent made: another
    version is ignored (the run was deployed again since, by another agent)."""
    if not _has_mutation(short_timeout_backend.url, "report_live_flow_runs"):
        pytest.skip("needs the backend's report_live_flow_runs mutation (the server's half of vouching)")
    with set_temporary_config(prefect_config(short_timeout_backend.url, short_timeout_backend.home)):
        client = Client(api_server=short_timeout_backend.url)
        run_id = client.create_flow_run(flow_id=_register_idle_flow(client, short_timeout_backend.project))
        version = _deploy(client, run_id)
        backend = Backend(client, logging.getLogger("test"))
        assert backend.report_live([(run_id, version)]) == [run_id]
        assert backend.report_live([(run_id, version + 5)]) == []


def _register_idle_flow(client: Client, project: str) -> str:
    """A flow whose runs no agent takes (a label nobody serves): the test plays the agent."""
    from prefect import Flow, task
    from prefect.run_configs import LocalRun
    from prefect.storage import Local

    @task
    def nothing():
        return None

    with Flow("agent-idle") as flow:
        nothing()
    flow.storage = Local(add_default_labels=False)
    flow.run_config = LocalRun(labels=["nobody-serves-this"])
    return flow.register(project_name=project, no_url=True)


def _deploy(client: Client, run_id: str) -> int:
    """What an agent and its flow process do: Submitted with the version read, then Running.
    Returns the version the agent read (what it reports with)."""
    version = client.get_flow_run_info(run_id).version
    client.set_flow_run_state(run_id, version=version, state=Submitted("deployed by the test"))
    client.set_flow_run_state(run_id, version=version + 1, state=Running("running"))
    return version
