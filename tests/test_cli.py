"""`tasks-flowrun server` and `tasks-flowrun demo`, run for real as subprocesses."""
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import pytest
import requests

from tasks_flowrun.cli import build_parser
from tasks_flowrun.net import free_port
from tests.stores import fresh_database, tables_of

REPO = Path(__file__).resolve().parents[1]
SERVER_LINE = re.compile(r"Prefect 1 API at (http://\S+) \(database (.+?)[;,)]")


def cli_command() -> List[str]:
    """The installed console script if there is one, else the same entry point via -m."""
    script = Path(sys.executable).with_name("tasks-flowrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tasks_flowrun.cli"]


def cli_env(home: Path) -> Dict[str, str]:
    """A clean environment: no Prefect settings inherited from the test session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT__")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PREFECT__HOME_DIR"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env["TMPDIR"] = str(home.parent)  # where a failed demo keeps its logs
    return env


def start_server(tmp_path: Path, *args: str) -> "tuple[subprocess.Popen, str, str]":
    proc = subprocess.Popen(
        cli_command() + ["server", *args],
        env=cli_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    match = SERVER_LINE.search(line)
    if not match:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"no start line from `tasks-flowrun server`: {line!r} {out!r} {err!r}")
    return proc, match.group(1), match.group(2)


def stop(proc: subprocess.Popen, sig: int) -> "tuple[int, str, str]":
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the server did not stop on signal {sig}: {err}")
    return proc.returncode, out, err


def test_parser_has_the_documented_commands() -> None:
    args = build_parser().parse_args(["server"])
    # options not given stay None: their values then come from the environment, Prefect's
    # configuration or the defaults (tests/test_config.py)
    assert (args.host, args.port, args.database) == (None, None, None)
    args = build_parser().parse_args(["demo", "--keep", "--children", "3", "--port", "0", "--database", "x.db"])
    assert (args.keep, args.children, args.port, str(args.database)) == (True, 3, 0, "x.db")


def test_server_serves_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    database = fresh_database(tmp_path, "api")
    proc, url, shown_db = start_server(tmp_path, "--port", str(port), "--database", str(database))
    try:
        assert url == f"http://127.0.0.1:{port}"
        assert shown_db == str(database)
        health = requests.get(f"{url}/health", timeout=5)
        assert health.status_code == 200
        hello = requests.post(url, json={"query": "query { hello }", "variables": "null"}, timeout=5)
        assert hello.status_code == 200 and hello.json()["data"]["hello"]
    finally:
        code, out, err = stop(proc, signal.SIGINT)
    assert code == 0, err
    assert "Traceback" not in err + out
    assert out.strip().count("\n") == 0, f"expected one line of output, got: {out!r}"
    assert "flow_run" in tables_of(database)


def test_server_defaults_to_prefect_home_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc, url, shown_db = start_server(tmp_path, "--port", "0")
    try:
        assert shown_db == str(tmp_path / "home" / "tasks_flowrun.db")
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
    finally:
        code, out, err = stop(proc, signal.SIGTERM)
    assert code == 0 and "Traceback" not in err, err


def test_server_with_api_key_requires_it(tmp_path: Path) -> None:
    proc, url, _ = start_server(tmp_path, "--port", "0", "--database", str(fresh_database(tmp_path)), "--api-key", "s3cret")
    try:
        body = {"query": "query { hello }"}
        ok = requests.post(url, json=body, headers={"Authorization": "Bearer s3cret"}, timeout=5)
        assert ok.status_code == 200 and ok.json()["data"]["hello"]
        refused = requests.post(url, json=body, headers={"Authorization": "Bearer wrong"}, timeout=5)
        assert not (refused.status_code == 200 and (refused.json().get("data") or {}).get("hello"))
        # the README's way: the Prefect client sends PREFECT__CLOUD__API_KEY as the bearer token
        env = cli_env(tmp_path / "home")
        env.update(
            {"PREFECT__BACKEND": "server", "PREFECT__SERVER__ENDPOINT": url, "PREFECT__CLOUD__API_KEY": "s3cret"}
        )
        script = "import prefect; c = prefect.Client(); print(c.graphql('query { hello }').data.hello, c.tenant_id)"
        client = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert client.returncode == 0, client.stderr
    finally:
        stop(proc, signal.SIGINT)


def test_server_socket_is_tcp_so_keep_alive_requests_are_not_delayed() -> None:
    """asyncio disables Nagle only on accepted sockets whose proto is IPPROTO_TCP; a socket made
    with proto 0 made every keep-alive request (Prefect's client reuses connections) wait for a
    ~40 ms delayed ACK. Check the listening socket, which accepted connections inherit."""
    import socket

    from tasks_flowrun.server.cli import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        sock.listen()
        peer = socket.create_connection(sock.getsockname()[:2])
        accepted, _ = sock.accept()
        assert accepted.proto == socket.IPPROTO_TCP
        accepted.close()
        peer.close()
    finally:
        sock.close()


def test_server_on_a_taken_port_says_so(tmp_path: Path) -> None:
    proc, url, _ = start_server(tmp_path, "--port", "0", "--database", str(fresh_database(tmp_path, "a")))
    try:
        port = url.rsplit(":", 1)[1]
        second = subprocess.run(
            cli_command() + ["server", "--port", port, "--database", str(fresh_database(tmp_path, "b"))],
            env=cli_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr and "--port" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        stop(proc, signal.SIGINT)


@pytest.mark.e2e
def test_demo_runs_to_a_summary_with_every_child_success(tmp_path: Path) -> None:
    children = 3
    proc = subprocess.run(
        cli_command() + ["demo", "--children", str(children), "--port", "0"],
        env=cli_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,  # the demo finds the examples next to the package, not in the cwd
    )
    report = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, report
    assert "\x1b[" not in proc.stdout, "ANSI sequences in non-TTY output"
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("child ") and "final state" in line)
    rows = []
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        rows.append(line.split())
    assert len(rows) == children, report
    assert all(row[2] == "Success" for row in rows), report
    assert len({row[0] for row in rows}) == children, "children must have distinct names"
    # plain progress: one line per observed state change, each child seen reaching Success
    for row in rows:
        assert re.search(rf"child\s+{re.escape(row[0])}\s+Success", proc.stdout), report
    assert re.search(r"backend: http://127\.0\.0\.1:\d+", proc.stdout)
    assert "demo OK" in proc.stdout


@pytest.mark.e2e
def test_demo_keep_serves_until_ctrl_c_then_cleans_up(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        cli_command() + ["demo", "--children", "1", "--port", "0", "--keep"],
        env=cli_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: List[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        url = re.search(r"export PREFECT__SERVER__ENDPOINT=(\S+)", output)
        assert url and "prefect backend server" in output, output
        agent_pid = int(re.search(r"LocalAgent, pid (\d+)", output).group(1))
        assert requests.get(f"{url.group(1)}/health", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url.group(1)}/health", timeout=5)
    with pytest.raises(ProcessLookupError):
        os.kill(agent_pid, 0)


@pytest.mark.e2e
def test_demo_times_out_with_a_clear_message(tmp_path: Path) -> None:
    proc = subprocess.run(
        cli_command() + ["demo", "--children", "2", "--port", "0", "--timeout", "0.5"],
        env=cli_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "demo FAILED: timed out after 0.5s: the parent run is still" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_demo_reports_failed_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A child that fails: exit 1, the summary shows it Failed and the message says which."""
    import io

    from tasks_flowrun.demo import DemoOptions, run_demo, runner

    failing = [{"batch": 0, "size": 10, "seconds": 0.1}, {"batch": 1, "size": 10, "seconds": -1}]
    monkeypatch.setattr(runner, "child_parameters", lambda count: failing[:count])
    monkeypatch.setenv("PREFECT__HOME_DIR", str(tmp_path / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the kept logs land here
    out = io.StringIO()
    code = run_demo(DemoOptions(children=2, port=0, timeout=120), out=out)
    err = capsys.readouterr().err
    assert code == 1, out.getvalue() + err
    summary = out.getvalue()
    assert re.search(r"fan-out-child-0\s+\S+\s+Success", summary), summary
    assert re.search(r"fan-out-child-1\s+\S+\s+Failed", summary), summary
    assert "demo FAILED: children not successful: demo-fan-out-fan-out-child-1 (Failed)" in err
    assert "the parent run ended Failed" in err
    assert f"logs kept in {tmp_path}" in err
