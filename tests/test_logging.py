"""One logging setup for `tasks-flowrun server` and `agent`: --log-level (or TASKS_FLOWRUN_LOG_LEVEL,
or Prefect's setting), Prefect's log format, on standard error; the access log off unless asked."""
import re
import signal
import subprocess
from pathlib import Path
from typing import Dict

import pytest
import requests

from tests.helpers import prefect_env, stop_process, wait_until
from tests.server.support import GraphQL
from tests.stores import fresh_database
from tests.test_cli import cli_command, stop
from tests.test_config import clean_env, start

# Prefect's own setting for the format of its log lines: the commands use it too
FORMAT = "XLOG|%(levelname)s|%(name)s|%(message)s"


def server_log(tmp_path: Path, *args: str, **variables: str) -> "tuple[str, str]":
    """Start `tasks-flowrun server`, ask for /health, stop it: (its URL, its standard error)."""
    env = clean_env(tmp_path / "home", PREFECT__LOGGING__FORMAT=FORMAT, **variables)
    proc, url = start(env, "--port", "0", "--database", str(fresh_database(tmp_path)), *args)
    try:
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
    finally:
        code, out, err = stop(proc, signal.SIGINT)
    assert code == 0, err
    assert out == "", f"standard output is for the start line only (read by start()): {out!r}"
    return url, err


def lines_of(err: str, level: str) -> list:
    return [line for line in err.splitlines() if line.startswith(f"XLOG|{level}|")]


def test_server_logs_in_prefects_format_from_info_by_default(tmp_path: Path) -> None:
    _, err = server_log(tmp_path)
    # Prefect's backend is its default, 'cloud': the server notes that clients would not reach it
    assert any(line.startswith("XLOG|INFO|tasks_flowrun.server|Prefect's backend is 'cloud'")
               for line in err.splitlines()), err
    assert not lines_of(err, "DEBUG")
    assert "uvicorn.access" not in err  # no access log by default


@pytest.mark.parametrize("how", [("--log-level", "WARNING"), ("TASKS_FLOWRUN_LOG_LEVEL", "warning"),
                                 ("PREFECT__LOGGING__LEVEL", "WARNING")])
def test_server_log_level_from_a_flag_a_variable_or_prefect(tmp_path: Path, how) -> None:
    name, value = how
    args, variables = ((name, value), {}) if name.startswith("--") else ((), {name: value})
    _, err = server_log(tmp_path, *args, **variables)
    assert not lines_of(err, "INFO"), err


def test_server_debug_shows_uvicorns_own_lines(tmp_path: Path) -> None:
    _, err = server_log(tmp_path, "--log-level", "DEBUG")
    assert any(line.startswith("XLOG|INFO|uvicorn.error|") for line in err.splitlines()), err


def test_access_log_when_asked(tmp_path: Path) -> None:
    _, err = server_log(tmp_path, "--access-log", "--log-level", "WARNING")
    access = [line for line in err.splitlines() if line.startswith("XLOG|INFO|uvicorn.access|")]
    assert any(re.search(r'"GET /health HTTP/1\.1" 200', line) for line in access), err
    assert not [line for line in lines_of(err, "INFO") if "uvicorn.access" not in line]
    _, err = server_log(tmp_path, TASKS_FLOWRUN_ACCESS_LOG="true")
    assert '"GET /health HTTP/1.1" 200' in err


def run_agent(server, tmp_path: Path, name: str, *args: str, **variables: str) -> str:
    """Run `tasks-flowrun agent` until the backend has seen it ask for work, stop it: its
    standard error."""
    env: Dict[str, str] = prefect_env(server.url, tmp_path / "home")
    env.pop("TASKS_FLOWRUN_LOG_LEVEL", None)
    env.update({"PREFECT__LOGGING__FORMAT": FORMAT, **variables})
    err_path = tmp_path / f"{name}.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(cli_command() + ["agent", "--name", name, "--label", f"logging-{name}",
                                                 "--no-hostname-label", *args],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
    gql = GraphQL(server.url)
    try:
        wait_until(lambda: gql.data("query($n: String) { agent(where: {name: {_eq: $n}}) { last_queried } }",
                                    {"n": name})["agent"], timeout=60, what=f"agent {name} asking for work")
    finally:
        stop_process(proc)
    return err_path.read_text(errors="replace")


def test_agent_logs_in_prefects_format_to_standard_error(server, tmp_path: Path) -> None:
    err = run_agent(server, tmp_path, "log-info")
    assert any(line.startswith("XLOG|INFO|log-info|") for line in err.splitlines()), err
    assert not lines_of(err, "DEBUG")


def test_agent_log_level(server, tmp_path: Path) -> None:
    err = run_agent(server, tmp_path, "log-debug", "--log-level", "DEBUG")
    assert any(line.startswith("XLOG|DEBUG|log-debug|Prefect backend: server") for line in err.splitlines()), err
    err = run_agent(server, tmp_path, "log-warning", TASKS_FLOWRUN_LOG_LEVEL="WARNING")
    assert not lines_of(err, "INFO") and not lines_of(err, "DEBUG"), err
    err = run_agent(server, tmp_path, "log-prefect", PREFECT__CLOUD__AGENT__LEVEL="ERROR")
    assert not lines_of(err, "INFO"), err
