"""One configuration path: flags, then TASKS_FLOWRUN_ variables, then Prefect's own configuration
(PREFECT__ variables, then its config file), then defaults; `tasks-flowrun config` shows each
value's source with secrets masked. Run as subprocesses, as an operator would."""
import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import requests

from tasks_flowrun.net import free_port
from tests.test_cli import SERVER_LINE, cli_command, stop

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tasks_flowrun"


def clean_env(home: Path, **extra: str) -> Dict[str, str]:
    """No Prefect or tasks-flowrun setting inherited; Prefect's config file in `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT__", "TASKS_FLOWRUN_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update({"HOME": str(home), "PREFECT__USER_CONFIG_PATH": str(home / "config.toml"),
                "PREFECT__BACKEND_CONFIG_PATH": str(home / "backend.toml"),
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
                "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def config_json(env: Dict[str, str], *args: str) -> dict:
    proc = subprocess.run(cli_command() + ["config", "--json", *args], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def write_prefect_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = clean_env(home)
    port = config_json(env)["server"]["port"]
    assert port == {"value": 4200, "source": "default"}

    write_prefect_config(home, "[server]\nport = 4301\n")
    port = config_json(env)["server"]["port"]
    assert port == {"value": 4301, "source": f"prefect config file {home / 'config.toml'} (server.port)"}

    env["PREFECT__SERVER__PORT"] = "4302"
    assert config_json(env)["server"]["port"] == {"value": 4302, "source": "env PREFECT__SERVER__PORT (server.port)"}

    env["TASKS_FLOWRUN_PORT"] = "4303"
    assert config_json(env)["server"]["port"] == {"value": 4303, "source": "env TASKS_FLOWRUN_PORT"}

    assert config_json(env, "--port", "4304")["server"]["port"] == {"value": 4304, "source": "flag --port"}


def test_prefect_settings_the_server_follows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_prefect_config(home, 'home_dir = "%s"\n[server]\nhost = "http://127.0.0.2"\n[logging]\nlevel = "DEBUG"\n'
                         '[server.ui]\nendpoint = "http://ui.example:8080"\n' % (tmp_path / "prefect-home"))
    server = config_json(clean_env(home))["server"]
    assert server["host"]["value"] == "127.0.0.2"  # the host of Prefect's server.host URL
    assert server["database"]["value"] == str(tmp_path / "prefect-home" / "tasks_flowrun.db")
    assert server["database"]["source"].endswith("(home_dir)")
    assert server["log_level"]["value"] == "DEBUG"
    assert server["ui_url"]["value"] == "http://ui.example:8080"
    assert all(server[name]["source"].startswith("prefect config file") for name in
               ("host", "database", "log_level", "ui_url"))


def test_every_option_has_its_variable(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", TASKS_FLOWRUN_HOST="127.0.0.3", TASKS_FLOWRUN_DATABASE=str(tmp_path / "x.db"),
                    TASKS_FLOWRUN_INSECURE="true", TASKS_FLOWRUN_HEARTBEAT_TIMEOUT="30",
                    TASKS_FLOWRUN_MAX_RESURRECTIONS="0", TASKS_FLOWRUN_CORS_ORIGINS="http://a:1, http://B:2",
                    TASKS_FLOWRUN_LOG_LEVEL="warning", TASKS_FLOWRUN_ACCESS_LOG="on",
                    TASKS_FLOWRUN_UI_URL="http://ui:1/", PREFECT_SERVER_VERSION="v9")
    server = config_json(env)["server"]
    values = {name: server[name]["value"] for name in server}
    assert values["host"] == "127.0.0.3" and values["database"] == str(tmp_path / "x.db")
    assert values["insecure"] is True and values["heartbeat_timeout"] == 30.0 and values["max_resurrections"] == 0
    assert values["cors_origins"] == ["http://a:1", "http://b:2"]
    assert values["log_level"] == "WARNING" and values["access_log"] is True
    assert values["ui_url"] == "http://ui:1" and values["api_server_version"] == "v9"
    assert server["api_server_version"]["source"] == "env PREFECT_SERVER_VERSION"


def test_secrets_are_masked(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("file-key-123\n")
    env = clean_env(tmp_path / "home", TASKS_FLOWRUN_API_KEY_FILE=str(key_file), PREFECT__CLOUD__API_KEY="client-key-456")
    args = ["--database", "postgresql://me:db-pass-789@db.example:5432/flows"]
    for extra in ([], ["--json"]):
        proc = subprocess.run(cli_command() + ["config", *args, *extra], env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        for secret in ("file-key-123", "client-key-456", "db-pass-789"):
            assert secret not in proc.stdout + proc.stderr
        assert "postgresql://me:***@db.example:5432/flows" in proc.stdout
    server = config_json(env, *args)["server"]
    assert server["api_key"] == {"value": "***", "source": f"env TASKS_FLOWRUN_API_KEY_FILE {key_file}"}
    assert config_json(env, *args)["clients"]["prefect api key"]["value"] == "***"


@pytest.mark.parametrize("variables, message", [
    ({"TASKS_FLOWRUN_PORT": "abc"}, "$TASKS_FLOWRUN_PORT: expected a TCP port number, got 'abc'"),
    ({"TASKS_FLOWRUN_HEARTBEAT_TIMEOUT": "-1"}, "$TASKS_FLOWRUN_HEARTBEAT_TIMEOUT: must be more than 0 seconds"),
    ({"TASKS_FLOWRUN_CORS_ORIGINS": "*"}, "$TASKS_FLOWRUN_CORS_ORIGINS: '*' is not allowed"),
    ({"PREFECT__SERVER__PORT": "70000"}, "Prefect's server.port = 70000 (from env PREFECT__SERVER__PORT): a TCP "
                                         "port is 0 to 65535"),
    ({"TASKS_FLOWRUN_API_KEY": "a", "TASKS_FLOWRUN_API_KEY_FILE": "/nonexistent"},
     "give either $TASKS_FLOWRUN_API_KEY or $TASKS_FLOWRUN_API_KEY_FILE, not both"),
    ({"TASKS_FLOWRUN_API_KEY_FILE": "/nonexistent/key"}, "cannot read $TASKS_FLOWRUN_API_KEY_FILE '/nonexistent/key'"),
    ({"TASKS_FLOWRUN_LOG_LEVEL": "loud"}, "$TASKS_FLOWRUN_LOG_LEVEL: expected one of DEBUG, INFO, WARNING"),
])
def test_bad_values_are_refused_naming_where_they_came_from(tmp_path: Path, variables, message) -> None:
    env = clean_env(tmp_path / "home", **variables)
    for command in ("config", "server"):
        proc = subprocess.run(cli_command() + [command], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_broken_prefect_config_file_is_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_prefect_config(home, "[server\nport = 1\n")
    for command in ("config", "server", "agent"):
        proc = subprocess.run(cli_command() + [command], env=clean_env(home), capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert f"tasks-flowrun {command}: cannot read Prefect's configuration ({home / 'config.toml'}" in proc.stderr
        assert "Traceback" not in proc.stderr


def start(env: Dict[str, str], *args: str) -> "tuple[subprocess.Popen, str]":
    proc = subprocess.Popen(cli_command() + ["server", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = SERVER_LINE.search(line)
    if not match:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"no start line: {line!r} {out!r} {err!r}")
    return proc, match.group(1)


def client_hello(env: Dict[str, str]) -> str:
    """What a Prefect client with this environment (and nothing else) reaches."""
    script = "import prefect; print(prefect.Client().graphql('query { hello }').data.hello)"
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


@pytest.mark.parametrize("where", ["variable", "config file"])
def test_server_listens_where_prefect_clients_look(tmp_path: Path, where: str) -> None:
    """The bug this fixes: with PREFECT__SERVER__PORT the client looked there and the server
    listened on 4200. Now one setting, in either of Prefect's places, moves both."""
    home = tmp_path / "home"
    free = free_port()
    env = clean_env(home, PREFECT__BACKEND="server", PREFECT__HOME_DIR=str(tmp_path / "prefect"))
    if where == "variable":
        env["PREFECT__SERVER__PORT"] = str(free)
    else:
        write_prefect_config(home, f"[server]\nport = {free}\n")
    proc, url = start(env)
    try:
        assert url == f"http://127.0.0.1:{free}"
        assert client_hello(env) == "👋"
    finally:
        code, out, err = stop(proc, signal.SIGINT)
    assert code == 0, err
    assert "look for the backend" not in err  # they agree: no note


def test_server_notes_where_clients_look_when_it_differs(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", PREFECT__BACKEND="server", PREFECT__SERVER__PORT=str(free_port()),
                    PREFECT__HOME_DIR=str(tmp_path / "prefect"))
    other = free_port()
    proc, url = start(env, "--port", str(other))
    try:
        assert url.endswith(f":{other}")
    finally:
        code, out, err = stop(proc, signal.SIGINT)
    assert f"not at http://127.0.0.1:{other} where this server listens" in err, err
    shown = subprocess.run(cli_command() + ["config", "--port", str(other)], env=env, capture_output=True, text=True,
                           timeout=60)
    assert "note: Prefect's clients on this machine look for the backend at" in shown.stdout


def test_the_api_query_overrides_are_read_at_start(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", PREFECT_SERVER_VERSION="server-version", PREFECT_CORE_VERSION="core-version",
                    RELEASE_TIMESTAMP="2020-04-04T01:08:22Z", PREFECT__HOME_DIR=str(tmp_path / "prefect"))
    proc, url = start(env, "--port", "0")
    try:
        answer = requests.post(url, json={"query": "query { api { version core_version release_timestamp } }"},
                               timeout=10).json()
    finally:
        stop(proc, signal.SIGINT)
    assert answer["data"]["api"] == {"version": "server-version", "core_version": "core-version",
                                     "release_timestamp": "2020-04-04T01:08:22Z"}


def _environment_reads(path: Path) -> List[int]:
    """Lines of `path` that read os.environ / os.getenv (not those that only write or copy it
    for a subprocess)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func
            if target.attr == "getenv" or (target.attr == "get" and isinstance(target.value, ast.Attribute)
                                           and target.value.attr == "environ"):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "environ" and isinstance(node.ctx, ast.Load):
            lines.append(node.lineno)
    return lines


def test_the_backend_reads_its_settings_in_one_place() -> None:
    found: Dict[str, Optional[List[int]]] = {}
    for path in sorted((PACKAGE / "server").rglob("*.py")):
        reads = _environment_reads(path)
        if reads:
            found[str(path.relative_to(REPO))] = reads
    assert not found, f"read settings through tasks_flowrun/config.py, not the environment: {found}"
    assert _environment_reads(PACKAGE / "config.py"), "the checker finds no read in config.py: it is broken"
