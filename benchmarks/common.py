"""Shared setup for the benchmarks: one embedded backend, Prefect pointed at it, flows, helpers.

`Bench.start()` must run before anything imports `prefect`: Prefect 1 reads its
configuration from the environment at import time, and every thread's `prefect.context`
is initialised from that configuration. So the backend's port is chosen first, the
`PREFECT__*` variables are set, and only then are Prefect and the backend imported.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from tasks_flowrun.net import free_port
from tasks_flowrun.prefect_env import prefect_variables

FLOWS = Path(__file__).with_name("flows")
# Runs created by the in-process benchmarks carry this label, which no agent has, so that the
# end-to-end benchmark's agent never picks them up.
NO_AGENT = "bench-no-agent"


def prefect_env(url: str, home: Path, send_logs: bool) -> Dict[str, str]:
    """Environment pointing a Prefect 1 process at the backend at `url` (as tests/helpers.py)."""
    return {**prefect_variables(url, home, send_logs=send_logs), "PYTHONUNBUFFERED": "1"}


class Bench:
    """The embedded backend (fresh temp SQLite file) and a Prefect configuration that uses it."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="tasks-flowrun-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: Any = None
        self.project = ""
        self.flow_ids: Dict[str, str] = {}

    def start(self) -> "Bench":
        # In this process Prefect ships no logs to the backend: the request counts below are
        # the tasks' own requests, not the batched log uploader's (same for both sides).
        os.environ.update(prefect_env(self.url, self.home, send_logs=False))
        os.environ["PREFECT__LOGGING__LEVEL"] = "WARNING"  # keep 400 "Created ..." lines off the console
        if "prefect" in sys.modules:
            raise RuntimeError("benchmarks/common.py must configure Prefect before it is imported")
        # The backend runs as users run it: `tasks-flowrun server` in its own process, so it
        # does not share this process's interpreter lock with the clients being measured.
        self.server = ServerProcess(self.port, self.home / "backend.db", self.home / "server.log").start()
        import prefect

        self.client = prefect.Client()
        self.project = f"bench-{uuid.uuid4().hex[:6]}"
        self.client.create_project(self.project)
        return self

    def stop(self, keep: bool = False) -> None:
        """Stop the backend and, unless `keep`, delete its temp directory (database, agent log)."""
        if self.server is not None:
            self.server.stop()
        if not keep:
            shutil.rmtree(self.home, ignore_errors=True)

    def subprocess_env(self) -> Dict[str, str]:
        """Environment for agent / flow-run subprocesses (they do ship their logs, like real runs)."""
        env = dict(os.environ)
        env.update(prefect_env(self.url, self.home, send_logs=True))
        env.pop("PREFECT__LOGGING__LEVEL", None)
        return env

    def register(self, script: str) -> str:
        """Register `benchmarks/flows/<script>` (Local storage, stored as script); return the flow id."""
        if script in self.flow_ids:
            return self.flow_ids[script]
        from prefect.storage import Local
        from prefect.utilities.storage import extract_flow_from_file

        path = FLOWS / script
        flow = extract_flow_from_file(file_path=str(path))
        flow.storage = Local(path=str(path), stored_as_script=True)
        self.flow_ids[script] = flow.register(project_name=self.project, no_url=True)
        return self.flow_ids[script]

    def requests(self) -> int:
        return self.server.stats.snapshot()["requests"]

    def fields(self) -> Dict[str, int]:
        return self.server.stats.snapshot()["fields"]


class RemoteStats:
    """The backend's request counters read over HTTP (`GET /stats`); `reset` sets a baseline."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._base: Dict[str, Any] = {"requests": 0, "fields": {}}

    def _read(self) -> Dict[str, Any]:
        import requests

        return requests.get(self.url + "/stats", timeout=15).json()

    def snapshot(self) -> Dict[str, Any]:
        now = self._read()
        fields = {k: v - self._base["fields"].get(k, 0) for k, v in now["fields"].items()}
        return {"requests": now["requests"] - self._base["requests"], "fields": {k: v for k, v in fields.items() if v}}

    def watch(self) -> Dict[str, float]:
        """What answering `POST /watch` has cost the backend so far (its `watch` counters)."""
        return dict(self._read().get("watch") or {})

    def reset(self) -> None:
        self._base = self._read()


class ServerProcess:
    """`tasks-flowrun server` on a port and database of the benchmark's, in a subprocess."""

    def __init__(self, port: int, database: Path, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.cmd = [sys.executable, "-m", "tasks_flowrun.cli", "server", "--port", str(port),
                    "--database", str(database)]
        self.log_path = log_path
        self.process: Optional[subprocess.Popen] = None
        self.stats = RemoteStats(self.url)

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        import requests

        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the backend did not start; see {self.log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --- request attribution (for benchmarks whose two sides run at the same time) ---------------

class RequestLog:
    """Records every `prefect.Client` request with the tag of the thread that sent it.

    A spy on `prefect.Client._request` (it calls through), like the `requests_counter`
    fixture in tests/tasks/conftest.py. Threads tag themselves with `RequestLog.tag(name)`.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.entries: List[tuple] = []  # (tag, monotonic time)
        self._real: Optional[Callable] = None

    def tag(self, name: str) -> None:
        self._local.tag = name

    def __enter__(self) -> "RequestLog":
        from prefect.client.client import Client

        self._real = real = Client._request
        log = self

        def spy(client: Any, *args: Any, **kwargs: Any) -> Any:
            with log._lock:
                log.entries.append((getattr(log._local, "tag", "?"), time.monotonic()))
            return real(client, *args, **kwargs)

        Client._request = spy
        return self

    def __exit__(self, *exc: Any) -> None:
        from prefect.client.client import Client

        Client._request = self._real

    def count(self, tag: str, start: float = float("-inf"), end: float = float("inf")) -> int:
        with self._lock:
            return sum(1 for t, at in self.entries if t == tag and start <= at < end)


# --- figures ---------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    data = sorted(values)
    if not data:
        return float("nan")
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Row:
    """One line of the final table.

    `better` says which direction is good ("lower" or "higher"); `target` is a predicate on
    (ours, peer) with its text, or None when docs/architecture.md sets no target for this figure.
    """

    figure: str
    ours: Optional[float]
    peer: Optional[float] = None
    unit: str = ""
    target_text: str = ""
    target: Optional[Callable[[float, Optional[float]], bool]] = None
    digits: int = 2

    @property
    def ratio(self) -> Optional[float]:
        if self.ours is None or self.peer in (None, 0):
            return None
        return self.ours / self.peer

    @property
    def met(self) -> str:
        if self.target is None:
            return ""
        if self.ours is None:
            return "n/a"
        return "yes" if self.target(self.ours, self.peer) else "NO"

    def cells(self) -> List[str]:
        def fmt(value: Optional[float]) -> str:
            if value is None:
                return "-"
            return f"{value:.{self.digits}f}" + (f" {self.unit}" if self.unit else "")

        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}"
        return [self.figure, fmt(self.ours), fmt(self.peer), ratio, self.target_text or "-", self.met or "-"]


def print_table(rows: List[Row]) -> str:
    header = ["figure", "ours", "peer", "ratio ours/peer", "target", "met?"]
    lines = [header] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(line: List[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |"

    out = [fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(l) for l in lines[1:]]
    text = "\n".join(out)
    print(text)
    return text


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
