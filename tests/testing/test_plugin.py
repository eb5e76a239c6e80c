"""The pytest plugin users get with the package: `tasks_flowrun_backend` (and
`tasks_flowrun.testing.embedded_backend()`), proven by running pytest on users' test files in a
subprocess, outside this repository's configuration, so that only the installed entry point
can have loaded it."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict

import pytest

pytestmark = pytest.mark.e2e

USER_TEST = '''
import os
from pathlib import Path

from prefect import Flow, Parameter, task, unmapped
from tasks_flowrun import create_flow_run, wait_for_flow_run

MARKERS = Path(os.environ["MARKER_DIR"])


def write_marker(n):
    """A plain helper of the test module: the flow processes import this module to call it."""
    (MARKERS / f"child-{n}-{os.getpid()}").write_text(str(n))


@task
def child_work(n):
    write_marker(n)
    return n * 2


with Flow("user-child") as child:
    child_work(Parameter("n"))

with Flow("user-parent") as parent:
    ids = create_flow_run.map(flow_name=unmapped("user-child"), project_name=unmapped("tests"),
                              parameters=[{"n": 1}, {"n": 2}, {"n": 3}])
    wait_for_flow_run(ids, raise_final_state=True)


def test_parent_runs_its_children(tasks_flowrun_backend):
    tasks_flowrun_backend.register(child)
    (MARKERS / "pid").write_text(str(tasks_flowrun_backend.agent.pid))
    assert os.environ["PREFECT__SERVER__ENDPOINT"] == tasks_flowrun_backend.url
    state = parent.run()
    assert state.is_successful(), state.result
    children = [m for m in MARKERS.iterdir() if m.name.startswith("child-")]
    assert sorted(m.read_text() for m in children) == ["1", "2", "3"]
    # each child ran in a flow process of the agent, not in this test's process
    assert all(int(m.name.split("-")[2]) != os.getpid() for m in children)
    runs = tasks_flowrun_backend.client.graphql(
        'query { flow_run(where: {flow: {name: {_eq: "user-child"}}}) { state } }').data.flow_run
    assert [r.state for r in runs] == ["Success"] * 3
'''

FAILING_TEST = '''
import os
from pathlib import Path


def test_fails_while_using_the_backend(tasks_flowrun_backend):
    Path(os.environ["MARKER_DIR"], "pid").write_text(str(tasks_flowrun_backend.agent.pid))
    assert 1 == 2, "the user's own failure"
'''

UNUSED_TEST = '''
import sys


def test_plugin_loaded_but_nothing_imported(request):
    assert request.config.pluginmanager.hasplugin("tasks_flowrun")
    assert "tasks_flowrun.testing" not in sys.modules
    assert "prefect" not in sys.modules, "the plugin must not import Prefect when its fixture is unused"
'''


def run_pytest(tmp_path: Path, name: str, source: str, *args: str) -> subprocess.CompletedProcess:
    """pytest, run from a project's root as users do, on one test file in its `tests/` folder
    (so the flow processes can import the test module only if the fixture passes the import
    path on), with none of this repository's settings."""
    project = tmp_path / "user-project"
    (project / "tests").mkdir(parents=True, exist_ok=True)
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "tests" / f"{name}.py").write_text(textwrap.dedent(source))
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    env: Dict[str, str] = {k: v for k, v in os.environ.items()
                           if not k.startswith(("PREFECT__", "TASKS_FLOWRUN_", "PYTEST_"))}
    env.update({"MARKER_DIR": str(markers), "HOME": str(tmp_path / "home"), "PYTHONPATH": ""})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/{name}.py",
                           "--basetemp", str(tmp_path / "basetemp"), *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_users_parent_flow_runs_its_children_in_the_fixtures_backend(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "test_user_flows", USER_TEST)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
    markers = tmp_path / "markers"
    assert len([m for m in markers.iterdir() if m.name.startswith("child-")]) == 3
    assert gone(int((markers / "pid").read_text())), "the agent outlived the test"


def test_a_failing_user_test_reports_its_own_failure_and_cleans_up(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "test_user_fails", FAILING_TEST)
    assert result.returncode == 1, result.stdout[-4000:]
    assert "the user's own failure" in result.stdout and "1 failed" in result.stdout
    assert " error" not in result.stdout.splitlines()[-1]  # no teardown error on top of it
    assert gone(int((tmp_path / "markers" / "pid").read_text()))


def test_the_plugin_is_auto_loaded_and_free_when_unused(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "test_unused", UNUSED_TEST, "--fixtures")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "tasks_flowrun_backend" in result.stdout  # listed among the available fixtures
    result = run_pytest(tmp_path, "test_unused", UNUSED_TEST)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-4000:]
    result = run_pytest(tmp_path, "test_unused", UNUSED_TEST, "-p", "no:tasks_flowrun", "--fixtures")
    assert "tasks_flowrun_backend" not in result.stdout  # and it can be disabled


def test_context_manager_restores_everything(tmp_path: Path) -> None:
    import prefect
    import requests

    from tasks_flowrun.testing import embedded_backend

    before_env = {k: v for k, v in os.environ.items() if k.startswith("PREFECT__")}
    before_api, before_home = prefect.config.cloud.api, prefect.config.home_dir
    with embedded_backend(tmp_path / "backend") as backend:
        url, agent = backend.url, backend.agent
        assert prefect.config.cloud.api == url and prefect.context.config.cloud.api == url
        assert os.environ["PREFECT__CLOUD__API"] == url and os.environ["PREFECT__HOME_DIR"] == str(backend.home)
        assert backend.client.graphql("query { hello }").data.hello
        assert agent is not None and agent.poll() is None
    assert {k: v for k, v in os.environ.items() if k.startswith("PREFECT__")} == before_env
    assert (prefect.config.cloud.api, prefect.config.home_dir) == (before_api, before_home)
    assert gone(agent.pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/health", timeout=5)


def test_an_agent_that_dies_during_a_test_is_reported(tmp_path: Path) -> None:
    from tasks_flowrun.testing import embedded_backend

    with pytest.raises(RuntimeError, match=r"the tasks-flowrun agent exited while in use \(code -9\)"):
        with embedded_backend(tmp_path / "backend") as backend:
            os.killpg(backend.agent.pid, signal.SIGKILL)
            backend.agent.wait(timeout=30)


def test_the_readme_example_passes(tmp_path: Path) -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (example,) = [body for body in re.findall(r"^```python\n(.*?)^```", readme, re.S | re.M)
                  if "def test_" in body and "tasks_flowrun_backend" in body]
    result = run_pytest(tmp_path, "test_readme_example", example)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-6000:] + result.stderr[-2000:]
