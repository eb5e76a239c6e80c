"""The processes a scenario injects faults into, each restartable as it was: the backend
(`tasks-flowrun server` on a persistent database, on the same port), an agent
(`tasks-flowrun agent` or `prefect agent local start`) and the PostgreSQL cluster."""
import functools
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Union

import requests

from tests.postgres_cluster import Cluster

WARM_AGENT = "tasks-flowrun agent"
STOCK_AGENT = "prefect agent local"


@functools.lru_cache(maxsize=None)
def server_options() -> str:
    """`tasks-flowrun server --help`: which options this version of the backend has."""
    done = subprocess.run([sys.executable, "-m", "tasks_flowrun.cli", "server", "--help"],
                          capture_output=True, text=True, timeout=60)
    return done.stdout


def _wait_gone(proc: subprocess.Popen, timeout: float) -> bool:
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


class Backend:
    """`tasks-flowrun server` as a subprocess; every start serves the same database on the same port."""

    def __init__(self, database: Union[Path, str], folder: Path, env: Dict[str, str], port: int,
                 heartbeat_timeout: float, max_resurrections: int, submitted_timeout: float) -> None:
        self.database = database
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = folder / "backend.log"
        self.options = ["--heartbeat-timeout", str(heartbeat_timeout), "--max-resurrections", str(max_resurrections)]
        if "--submitted-timeout" in server_options():  # a newer backend: a Submitted run's own timeout
            self.options += ["--submitted-timeout", str(submitted_timeout)]
        self.process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 90.0) -> None:
        command = [sys.executable, "-m", "tasks_flowrun.cli", "server", "--port", str(self.port),
                   "--database", str(self.database), *self.options]
        with open(self.log, "ab") as log:
            log.write(f"\n--- chaos: start at {time.time():.3f}: {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the backend exited ({self.process.returncode}) on start: {self.log_tail()}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the backend did not answer /health within {timeout} s: {self.log_tail()}")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float) -> bool:
        assert self.process is not None
        return _wait_gone(self.process, timeout)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def recovery_lines(self) -> List[str]:
        """What the backend logged about runs it judged dead."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if "Recovery" in line or "chaos: start" in line]


class Agent:
    """A real agent as a subprocess: `tasks-flowrun agent` (warm) or `prefect agent local start` (stock)."""

    def __init__(self, kind: str, env: Dict[str, str], folder: Path, limit: int, name: str) -> None:
        assert kind in (WARM_AGENT, STOCK_AGENT), kind
        self.kind = kind
        self.env = env
        self.name = name
        self.log = folder / f"{name}.log"
        self.limit = limit
        self.process: Optional[subprocess.Popen] = None

    def command(self) -> List[str]:
        if self.kind == WARM_AGENT:
            return [sys.executable, "-m", "tasks_flowrun.cli", "agent", "--name", self.name, "--show-flow-logs",
                    "--limit", str(self.limit)]
        return [sys.executable, "-m", "prefect", "agent", "local", "start", "--name", self.name, "--show-flow-logs"]

    def start(self) -> None:
        with open(self.log, "ab") as log:
            log.write(f"\n--- chaos: start at {time.time():.3f}\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Postgres:
    """Restarts of the run's throwaway PostgreSQL cluster (tests/postgres_cluster.py), in place.

    The server always gets its log file (`-l`): started without one, it would write into
    pg_ctl's output and hold that pipe open for as long as it runs."""

    def __init__(self, cluster: Cluster, log: Path) -> None:
        self.cluster = cluster
        self.log = log

    def restart(self) -> None:
        self._pg_ctl("restart", "-w", "-t", "60", "-m", "fast", "-D", str(self.cluster.data),
                     "-l", str(self.cluster.folder / "server.log"), "-o", f"-p {self.cluster.port}")

    def stop(self) -> None:
        self._pg_ctl("stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.cluster.data))

    def start(self) -> None:
        self._pg_ctl("start", "-w", "-t", "60", "-D", str(self.cluster.data),
                     "-l", str(self.cluster.folder / "server.log"), "-o", f"-p {self.cluster.port}")

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.cluster.bindir / "pg_ctl"), *args]
        if self.cluster.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        with open(self.log, "ab") as log:
            log.write(f"\n--- chaos: {' '.join(command)}\n".encode())
            log.flush()
            done = subprocess.run(command, cwd=str(self.cluster.folder), stdout=log, stderr=subprocess.STDOUT,
                                  timeout=120, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[0]} failed ({done.returncode}): see {self.log}")
