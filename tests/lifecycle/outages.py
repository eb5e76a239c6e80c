"""Support for the backend-outage tests: a real `tasks-flowrun server` process that can be
killed, terminated, suspended and started again on the same port and database; a stock
`prefect agent local start` against it; the outage flow registered from its script."""
import os
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import requests

from tasks_flowrun.net import free_port
from tests.helpers import prefect_env, start_agent, stop_process, wait_until
from tests.server.support import GraphQL
from tests.test_cli import cli_command, cli_env

FLOWS = Path(__file__).with_name("flows")
# What the flow processes the agent starts inherit (Prefect reads these settings).
FAST_FLOW_PROCESSES = {
    "PREFECT__CLOUD__HEARTBEAT_INTERVAL": "2",
    "PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL": "2",
}
FINISHED = ("Success", "Failed", "Cancelled", "TimedOut")


class ServerProcess:
    """`tasks-flowrun server` on a fixed port and database, as a user runs it: started,
    stopped (any signal), suspended, started again."""

    def __init__(self, database: str, home: Path, *args: str) -> None:
        self.database = str(database)
        self.home = home
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / f"server-{self.port}.log"
        self.proc: Optional[subprocess.Popen] = None
        self.started_at = 0.0  # monotonic time its last start began

    def start(self) -> "ServerProcess":
        log = open(self.log_path, "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(cli_command() + ["server", "--port", str(self.port), "--database", self.database,
                                                      *self.args], env=cli_env(self.home), stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log()}")
            time.sleep(0.1)

    def wait_grace_over(self, grace: float) -> None:
        """Until the grace period of its start (`grace` seconds) is over: it judges runs."""
        time.sleep(max(0.0, self.started_at + grace + 1 - time.monotonic()))

    def send(self, signum: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signum)

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """End the process with `signum` and wait for it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if signum == signal.SIGTERM:
            stop_process(self.proc, timeout=20)
        else:
            self.send(signal.SIGCONT)
            self.send(signum)
            self.proc.wait(timeout=20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Outage:
    """A server process, a stock LocalAgent against it, the outage flow registered, a work dir."""

    def __init__(self, server: ServerProcess, home: Path, workdir: Path) -> None:
        self.server = server
        self.home = home
        self.workdir = workdir
        self.gql = GraphQL(server.url)
        self.env = {**prefect_env(server.url, home), **FAST_FLOW_PROCESSES}
        self.agent: Optional[subprocess.Popen] = None

    def start_agent(self) -> None:
        # Prefect's own LocalAgent: its flow processes heartbeat from a `prefect heartbeat`
        # subprocess and poll their run every 2 s (the settings above).
        self.agent = start_agent(self.env, self.home / "agent.log", fast=False)

    def register(self) -> str:
        from prefect import Client
        from prefect.storage import Local
        from prefect.utilities.storage import extract_flow_from_file

        with self.prefect():
            client = Client()
            project = f"outage-{uuid.uuid4().hex[:6]}"
            client.create_project(project)
            path = FLOWS / "lc_outage.py"
            flow = extract_flow_from_file(file_path=str(path))
            flow.storage = Local(path=str(path), stored_as_script=True)
            return flow.register(project_name=project, no_url=True)

    def start_run(self, flow_id: str, **parameters) -> str:
        from prefect import Client

        with self.prefect():
            return Client().create_flow_run(flow_id=flow_id, parameters={"workdir": str(self.workdir), **parameters})

    @contextmanager
    def prefect(self) -> Iterator[None]:
        import prefect
        from prefect.utilities.configuration import set_temporary_config

        url = self.server.url
        config = {"backend": "server", "server.endpoint": url, "cloud.api": url, "cloud.graphql": url + "/graphql",
                  "home_dir": str(self.home)}
        with set_temporary_config(config), prefect.context(config=prefect.config):
            yield

    def run(self, flow_run_id: str) -> Dict:
        # `flow_run(where:)`: a by-id read (`flow_run_by_pk`) would count as the flow process's own poll
        query = ("query($id: uuid!) { flow_run(where: {id: {_eq: $id}}) { id state state_message times_resurrected "
                 "version states(order_by: {version: asc}) { state version message } } }")
        return self.gql.data(query, {"id": flow_run_id})["flow_run"][0]

    def history(self, flow_run_id: str) -> List[str]:
        return [s["state"] for s in self.run(flow_run_id)["states"]]

    def lines(self, flow_run_id: str, suffix: str) -> List[str]:
        path = self.workdir / f"{flow_run_id}.{suffix}"
        return path.read_text().split() if path.exists() else []

    def wait_lines(self, flow_run_id: str, suffix: str, count: int = 1, timeout: float = 90) -> List[str]:
        return wait_until(lambda: len(self.lines(flow_run_id, suffix)) >= count and self.lines(flow_run_id, suffix),
                          timeout=timeout, interval=0.1,
                          what=lambda: f"{count} line(s) in {flow_run_id}.{suffix}; run: {self.run(flow_run_id)}")

    def final(self, flow_run_id: str, timeout: float = 120) -> Dict:
        def finished():
            run = self.run(flow_run_id)
            return run if run["state"] in FINISHED else None

        return wait_until(finished, timeout=timeout, interval=0.25, what=f"flow run {flow_run_id} to finish")

    def release(self, name: str = "release") -> None:
        (self.workdir / name).write_text("go on")

    def close(self) -> None:
        if self.agent is not None:
            stop_process(self.agent)
        self.release()
        self.release("go")
        self.server.stop()
        kill_mentioning(self.server.url)  # flow and heartbeat processes carry it in their environment


def kill_mentioning(text: str) -> None:
    """Kill the processes whose command line or environment mentions `text` (flow processes
    and their heartbeat processes, which outlive an agent)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
