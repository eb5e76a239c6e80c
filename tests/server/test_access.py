"""Who may talk to the backend: key sources, /stats behind the key, no open non-loopback bind."""
import subprocess
import sys

import requests

from tasks_flowrun.net import free_port
from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.settings import ServerSettings
from tests.stores import fresh_database, tables_of


def _server_cmd(*args: str) -> list:
    return [sys.executable, "-m", "tasks_flowrun.cli", "server", *args]


def test_a_non_loopback_host_without_a_key_refuses_to_start(tmp_path):
    database = fresh_database(tmp_path, "x")
    done = subprocess.run(_server_cmd("--host", "0.0.0.0", "--port", "0", "--database", str(database)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "without an API key" in done.stderr and "--insecure" in done.stderr
    assert not tables_of(database)  # refused before the database was touched


def test_an_empty_or_missing_key_file_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    database = fresh_database(tmp_path, "x")
    for path in (empty, tmp_path / "missing"):
        done = subprocess.run(_server_cmd("--api-key-file", str(path), "--database", str(database)),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "--api-key-file" in done.stderr, done


def test_the_key_from_a_file_is_required_and_api_key_on_the_command_line_warns(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-from-file\n")
    port = free_port()
    proc = subprocess.Popen(_server_cmd("--port", str(port), "--database", str(fresh_database(tmp_path, "k")),
                                        "--api-key-file", str(key_file)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "API key required" in proc.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        bad = requests.post(url, json={"query": "query { hello }"}, timeout=10).json()
        assert bad["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        good = requests.post(url, json={"query": "query { hello }"}, timeout=10,
                             headers={"Authorization": "Bearer s3cret-from-file"}).json()
        assert good["data"]["hello"]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    warned = subprocess.run(_server_cmd("--api-key", "k", "--host", "203.0.113.1", "--port", "1"),
                            capture_output=True, text=True, timeout=60)
    assert "visible to every user in the process list" in warned.stderr


def test_stats_need_the_key_and_health_does_not(tmp_path):
    settings = ServerSettings(port=0, database=fresh_database(tmp_path, "stats"), api_key="k")
    with EmbeddedServer(settings=settings) as srv:
        stats = requests.get(srv.url + "/stats", timeout=10)
        assert stats.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED" and "requests" not in stats.json()
        assert requests.get(srv.url + "/stats", headers={"Authorization": "Bearer k"}, timeout=10).json()["requests"] == 0
        assert requests.get(srv.url + "/health", timeout=10).ok


def test_insecure_starts_with_a_loud_warning(tmp_path, capsys):
    from tasks_flowrun.server.cli import exposure_refusal

    database = fresh_database(tmp_path, "i")  # never opened: the checks come first
    assert exposure_refusal(ServerSettings(host="0.0.0.0", database=database, insecure=True)) is None
    assert "WITHOUT an API key" in capsys.readouterr().err
    assert exposure_refusal(ServerSettings(host="::1", database=database)) is None
    assert exposure_refusal(ServerSettings(host="0.0.0.0", database=database, api_key="k")) is None
