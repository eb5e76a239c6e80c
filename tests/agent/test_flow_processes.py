"""What a forked flow process sees: its run's ids and configuration (kept from the zygote
when its environment is the common one, loaded again from the run's environment when a run
config changes it), and a flow that cannot be loaded failing its run with the reason."""
import json
from pathlib import Path

import pytest
from prefect.run_configs import LocalRun
from prefect.storage import Local
from prefect.utilities.configuration import set_temporary_config
from prefect.utilities.storage import extract_flow_from_file

from tests.agent.conftest import FLOWS, prefect_config
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


def _seen(workdir: Path, run_id: str) -> dict:
    return json.loads((workdir / f"{run_id}.json").read_text())


def _register(agent, script: str, env=None, path: Path = None) -> str:
    flow = extract_flow_from_file(file_path=str(FLOWS / script))
    flow.storage = Local(path=str(path or FLOWS / script), stored_as_script=True, add_default_labels=False)
    flow.run_config = LocalRun(labels=[agent.label], env=env)
    with set_temporary_config(prefect_config(agent.url, agent.home)):
        return flow.register(project_name=agent.project, no_url=True)


def test_each_flow_process_sees_its_own_runs_ids_and_the_agents_settings(own_agent, tmp_path):
    agent = own_agent(limit=2)
    flow_id = agent.register("config_probe.py")
    runs = [agent.start(flow_id, workdir=str(tmp_path)) for _ in range(3)]
    for run_id in runs:
        assert agent.final(run_id)["state"] == "Success"
    for run_id in runs:
        seen = _seen(tmp_path, run_id)
        assert seen["context_flow_run_id"] == seen["config_flow_run_id"] == run_id
        assert seen["context_config_flow_run_id"] == seen["env_flow_run_id"] == run_id
        assert seen["context_flow_id"] == flow_id
        assert seen["heartbeat_mode"] == "thread"
        assert seen["context_config"] == seen["config"]
    assert len({_seen(tmp_path, r)["pid"] for r in runs}) == 3


def test_a_run_config_env_is_loaded_into_prefects_configuration(own_agent, tmp_path):
    agent = own_agent(limit=2)
    flow_id = _register(agent, "config_probe.py", env={"PREFECT__PROBE_SETTING": "42"})
    run_id = agent.start(flow_id, workdir=str(tmp_path))
    assert agent.final(run_id)["state"] == "Success"
    seen = _seen(tmp_path, run_id)
    assert seen["probe_setting"] == seen["context_config_probe_setting"] == 42
    assert seen["context_flow_run_id"] == run_id and seen["context_config"] == seen["config"]


def test_a_task_runs_context_holds_the_config_as_dot_dicts(own_agent, tmp_path):
    """Prefect's runners merge the context's config into itself about four times per task
    run: as `DotDict`s (the same values, attribute access) that costs a twentieth of what a
    `Config` costs, which copies itself at every level of the merge."""
    agent = own_agent(limit=2)
    registrations = (lambda: agent.register("config_probe.py"),  # the zygote's config kept
                     lambda: _register(agent, "config_probe.py", env={"PREFECT__PROBE_SETTING": "7"}))  # loaded again
    for register in registrations:
        run_id = agent.start(register(), workdir=str(tmp_path))
        assert agent.final(run_id)["state"] == "Success"
        seen = _seen(tmp_path, run_id)
        assert seen["context_config_type"] == "DotDict"
        assert seen["context_config"] == seen["config"]


def test_a_flow_that_cannot_be_loaded_fails_its_run_with_the_reason(own_agent, tmp_path):
    agent = own_agent(limit=2)
    script = tmp_path / "vanishing.py"
    script.write_text((FLOWS / "quick.py").read_text())
    flow_id = _register(agent, "quick.py", path=script)
    script.unlink()
    run_id = agent.start(flow_id, x=1)
    run = agent.final(run_id)
    assert run["state"] == "Failed" and "Failed to load and execute flow run" in run["state_message"], run
    query = "query($id: uuid!) { log(where: {flow_run_id: {_eq: $id}}) { message } }"

    def logged() -> bool:  # written just after the Failed state, as `prefect execute flow-run` does
        logs = agent.gql.data(query, {"id": run_id})["log"]
        return any("Failed to load and execute flow run" in log["message"] for log in logs)

    wait_until(logged, timeout=10, what="the reason in the run's logs")


def test_a_flow_process_runs_every_exit_handler_and_uploads_its_logs(own_agent, tmp_path):
    """The process ends right after its last exit handler (skipping the interpreter's
    teardown): the user's handlers ran, Prefect's logs reached the backend."""
    agent = own_agent(limit=2)
    run_id = agent.start(agent.register("exit_handler.py"), workdir=str(tmp_path))
    assert agent.final(run_id)["state"] == "Success"
    marker = tmp_path / f"{run_id}.atexit"
    wait_until(lambda: marker.exists(), timeout=10, what="the flow's exit handler")
    assert marker.read_text() == "ran"
    query = "query($id: uuid!) { log(where: {flow_run_id: {_eq: $id}}) { message } }"

    def uploaded() -> bool:  # by Prefect's own exit handler, which runs after the user's
        messages = [log["message"] for log in agent.gql.data(query, {"id": run_id})["log"]]
        return "exit handler registered" in messages and any("Flow run SUCCESS" in m for m in messages)

    wait_until(uploaded, timeout=10, what="the flow process's logs")
