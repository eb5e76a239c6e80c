"""A real backend in a subprocess, attacked over HTTP; its health and memory watched from outside.

The server runs `tasks_flowrun.server.cli.serve` (what `tasks-flowrun server` runs) with the
default limits, except a shorter time budget and header timeout so that tests of those
stay fast. Memory is the process's peak resident set (VmHWM in /proc/<pid>/status).
"""
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

import requests

from tests.helpers import stop_process, wait_until
from tests.server.support import assert_clean_message
from tasks_flowrun.net import free_port
from tests.stores import fresh_database

LAUNCH = """
import sys
from tasks_flowrun.server.cli import serve
from tasks_flowrun.server.settings import ServerSettings
sys.exit(serve(ServerSettings(port=int(sys.argv[1]), database=sys.argv[2],
                              request_timeout=float(sys.argv[3]), header_timeout=float(sys.argv[4]))))
"""
REQUEST_TIMEOUT = 2.0
HEADER_TIMEOUT = 2.0
MAX_PEAK_RSS_MB = 300
CREATE = "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }"
JSON_HEADERS = {"Content-Type": "application/json", "X-PREFECT-CORE-VERSION": "1.4.1"}


@dataclass
class Target:
    url: str
    port: int
    proc: subprocess.Popen
    database: Union[Path, str]  # a SQLite file or a PostgreSQL URL
    flow_id: str = ""

    def post(self, body: Any, *, raw: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
             timeout: float = 30) -> requests.Response:
        data = raw if raw is not None else json.dumps(body).encode()
        return requests.post(self.url, data=data, headers={**JSON_HEADERS, **(headers or {})}, timeout=timeout)

    def gql(self, query: str, variables: Any = None, **kwargs: Any) -> requests.Response:
        return self.post({"query": query, "variables": json.dumps(variables)}, **kwargs)

    def data(self, query: str, variables: Any = None) -> Dict[str, Any]:
        resp = self.gql(query, variables)
        body = resp.json()
        assert resp.status_code == 200 and not body.get("errors"), (resp.status_code, body)
        return body["data"]

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM line")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        import os

        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def create_run(self, **extra: Any) -> str:
        data = self.data(CREATE, {"input": {"flow_id": self.flow_id, **extra}})
        return data["create_flow_run"]["id"]

    def assert_healthy(self) -> None:
        """/health and a normal create_flow_run both answer within 1 s; memory stayed bounded."""
        started = time.monotonic()
        assert requests.get(self.url + "/health", timeout=5).json()["status"] == "ok"
        self.create_run(idempotency_key=uuid.uuid4().hex)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"health + create took {elapsed:.2f} s"
        assert self.proc.poll() is None, "the server died"
        assert self.peak_rss_mb() < MAX_PEAK_RSS_MB, f"peak RSS {self.peak_rss_mb():.0f} MB"

    def run_count(self) -> int:
        return len(self.data("query { flow_run { id } }")["flow_run"])


def start_target(tmp: Path) -> Target:
    port = free_port()
    database = fresh_database(tmp, "attacked")
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(port), str(database), str(REQUEST_TIMEOUT), str(HEADER_TIMEOUT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    target = Target(f"http://127.0.0.1:{port}", port, proc, database)
    try:
        wait_until(lambda: requests.get(target.url + "/health", timeout=1).ok, timeout=30, what="server up")
        target.flow_id = register_flow(target)
    except BaseException:
        stop_process(proc)
        raise
    return target


def register_flow(target: Target, tasks: int = 2) -> str:
    from prefect.utilities.graphql import compress

    project = target.data("mutation($input: create_project_input!) { create_project(input: $input) { id } }",
                          {"input": {"name": f"attacks-{uuid.uuid4().hex[:6]}"}})["create_project"]["id"]
    flow = {"name": f"attacked-{uuid.uuid4().hex[:6]}", "tasks": [{"slug": f"t-{i}"} for i in range(tasks)],
            "edges": [], "parameters": []}
    data = target.data("mutation($input: create_flow_from_compressed_string_input!) "
                       "{ create_flow_from_compressed_string(input: $input) { id } }",
                       {"input": {"project_id": project, "serialized_flow": compress(flow)}})
    return data["create_flow_from_compressed_string"]["id"]


def refused(resp: requests.Response, status: int, *words: str) -> Dict[str, Any]:
    """The answer is a JSON error with this status, whose message has each of `words`."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body.get("errors"), body
    message = body["errors"][0]["message"]
    assert_clean_message(message)
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return body


def timed(call, limit: float = 3.0):
    """Call and return its result, failing if it took more than `limit` seconds."""
    started = time.monotonic()
    result = call()
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"took {elapsed:.2f} s (limit {limit} s)"
    return result
