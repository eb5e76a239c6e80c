"""Every `prefect` CLI command that talks to a backend, run for real (`python -m prefect`)
against the embedded backend, with the session's agent executing what `--watch` waits for.

One module-scoped project holds a flow registered through `prefect register`; each test
runs commands and checks their exit code and output.
"""
import json
import re
import subprocess
import sys
import time

import pytest

from tests.helpers import stop_process
from tests.server.support import run_prefect, unique

FLOW_FILE = '''
import prefect
from prefect import Flow, Parameter, task
from prefect.storage import Local

@task(log_stdout=True)
def shout(x):
    print(f"shout {x} {prefect.context.get('greeting')}")
    return x

@task
def double(x):
    return 2 * x

with Flow("{name}", storage=Local(directory="{storage}")) as flow:
    double(shout(Parameter("x", default=1)))
'''


@pytest.fixture(scope="module")
def world(backend_env, agent, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    project, flow_name = unique("cli-project"), unique("cli-flow")
    path = root / "flows.py"
    path.write_text(FLOW_FILE.replace("{name}", flow_name).replace("{storage}", str(root / "storage")))

    def prefect(*args: str, ok: bool = True, timeout: float = 180) -> str:
        done = run_prefect(list(args), backend_env, timeout=timeout, cwd=root)
        if ok:
            assert done.returncode == 0, f"prefect {' '.join(args)} exited {done.returncode}:\n{done.stdout}"
        return done.stdout

    out = prefect("create", "project", project, "--description", "made by the CLI test")
    assert project in out and "created" in out.lower(), out
    out = prefect("register", "--project", project, "--path", str(path))
    assert flow_name in out and "1 registered" in out, out
    return {"prefect": prefect, "project": project, "flow": flow_name, "root": root, "env": backend_env}


def test_create_project_again_keeps_one_project(world) -> None:
    # as against Prefect Server: the client treats the uniqueness error as "it exists"
    for extra in ((), ("--skip-if-exists",)):
        world["prefect"]("create", "project", world["project"], *extra)
    out = world["prefect"]("get", "projects", "--name", world["project"])
    assert sum(world["project"] in line for line in out.splitlines()) == 1, out


def test_get_projects_lists_the_project_with_its_flow_count(world) -> None:
    for args in ((), ("--name", world["project"])):
        out = world["prefect"]("get", "projects", *args)
        line = next(l for l in out.splitlines() if world["project"] in l)
        assert re.search(r"\b1\b", line) and "made by the CLI test" in line, out


def test_get_flows_by_name_project_version_and_all_versions(world) -> None:
    assert "NAME" in world["prefect"]("get", "flows")  # the newest 10 flows of every test
    for args in (("--project", world["project"]), ("--name", world["flow"]), ("--name", world["flow"], "--version", "1"),
                 ("--all-versions", "--project", world["project"])):
        out = world["prefect"]("get", "flows", *args)
        assert world["flow"] in out and world["project"] in out, (args, out)


def test_get_tasks_of_the_flow(world) -> None:
    out = world["prefect"]("get", "tasks", "--flow-name", world["flow"], "--project", world["project"])
    for name in ("shout", "double", "x"):
        assert re.search(rf"^{name}\s", out, re.M), out
    out = world["prefect"]("get", "tasks", "--name", "double", "--flow-name", world["flow"], "--flow-version", "1")
    assert "double" in out and "shout" not in out, out


def test_describe_flows_and_tasks_as_json(world) -> None:
    out = world["prefect"]("describe", "flows", "--name", world["flow"], "--project", world["project"])
    assert f'"name": "{world["flow"]}"' in out and '"version": 1' in out, out
    out = world["prefect"]("describe", "flows", "--name", world["flow"], "--output", "yaml")
    assert f"name: {world['flow']}" in out, out
    out = world["prefect"]("describe", "tasks", "--name", world["flow"], "--project", world["project"])
    assert '"slug"' in out and "double" in out and "shout" in out, out


def test_run_with_every_option_then_get_and_describe_the_runs(world) -> None:
    prefect, flow, project = world["prefect"], world["flow"], world["project"]
    # --execute: the run is created on the backend and executed by this CLI process
    out = prefect("run", "--name", flow, "--project", project, "--param", "x=3", "--context", "greeting=hi",
                  "--run-name", "cli-executed", "--execute", "--log-level", "INFO")
    assert "cli-executed" in out and "Success" in out and "shout 3 hi" in out, out
    # --watch: the session's agent executes it; the CLI streams its states and logs
    param_file = world["root"] / "params.json"
    param_file.write_text(json.dumps({"x": 4}))
    out = prefect("run", "--name", flow, "--project", project, "--param-file", str(param_file),
                  "--run-name", "cli-watched", "--watch")
    assert "cli-watched" in out and "Success" in out and "shout 4" in out, out
    # no wait: --label (no agent has it), --idempotency-key twice is one run, --quiet prints the id only
    first = prefect("run", "--name", flow, "--label", unique("nobody"), "--idempotency-key", "cli-key", "--quiet").strip()
    again = prefect("run", "--name", flow, "--label", unique("nobody"), "--idempotency-key", "cli-key", "--quiet").strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", first) and first == again, (first, again)
    out = prefect("run", "--path", str(world["root"] / "flows.py"), "--param", "x=5", "--no-logs")
    assert "Flow run succeeded" in out, out

    out = prefect("get", "flow-runs", "--project", project, "--limit", "20")
    assert "cli-executed" in out and "cli-watched" in out, out
    for args in (("--flow", flow), ("--started",)):
        assert "cli-watched" in prefect("get", "flow-runs", *args, "--limit", "50")
    out = prefect("get", "logs", "--name", "cli-watched")
    assert "shout 4" in out, out
    lines = len([l for l in out.splitlines()[1:] if l.strip()])
    out = prefect("get", "logs", "--name", "cli-watched", "--info")  # Prefect's logs carry no `info`: one line each
    assert len(out.splitlines()) == lines, out
    out = prefect("describe", "flow-runs", "--name", "cli-watched", "--flow-name", flow)
    assert '"name": "cli-watched"' in out and '"Success"' in out, out


def test_delete_project_removes_it_with_its_flows(world) -> None:
    prefect = world["prefect"]
    other = unique("cli-doomed")
    prefect("create", "project", other)
    prefect("register", "--project", other, "--path", str(world["root"] / "flows.py"))
    out = prefect("delete", "project", other)
    assert "deleted" in out.lower(), out
    assert other not in prefect("get", "projects")


def test_agent_local_start_polls_until_stopped(world) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "agent", "local", "start", "--label", unique("idle"),
                             "--no-hostname-label"], env=world["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "Waiting for flow runs" in line:
                break
        assert any("Waiting for flow runs" in l for l in seen), "".join(seen)
    finally:
        stop_process(proc, timeout=20)


def test_kv_says_it_needs_prefect_cloud(world) -> None:
    for args in (("kv", "list"), ("kv", "set", "k", "v"), ("kv", "get", "k")):
        out = world["prefect"](*args, ok=False)
        assert "Prefect Cloud" in out, (args, out)
