"""Agents of the agent tests' own: `tasks-flowrun agent` with a label no other agent has, so
that only it takes the runs created here (flows registered without the hostname label); and
a second backend whose heartbeat timeout is short (6 s), for the tests of liveness."""
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest
from prefect import Client
from prefect.run_configs import LocalRun
from prefect.storage import Local
from prefect.utilities.configuration import set_temporary_config
from prefect.utilities.storage import extract_flow_from_file

from tests.helpers import prefect_env, stop_process, wait_until
from tests.server.support import GraphQL
from tests.stores import fresh_database

FLOWS = Path(__file__).with_name("flows")
FINISHED = ("Success", "Failed", "Cancelled", "TimedOut")
SHORT_HEARTBEAT_TIMEOUT = 6.0
# Flow processes that heartbeat every 2 s: silence, not slowness, is what a 6 s timeout judges.
FAST_HEARTBEATS = {"PREFECT__CLOUD__HEARTBEAT_INTERVAL": "2", "PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL": "2"}


def prefect_config(url: str, home: Path) -> Dict[str, str]:
    """This process's Prefect settings for the backend at `url`."""
    return {"backend": "server", "server.endpoint": url, "cloud.api": url, "cloud.graphql": url + "/graphql",
            "home_dir": str(home)}


class OwnAgent:
    """A `tasks-flowrun agent` serving only `label` on the backend at `url`, and helpers to
    run flows through it. `limit=None` starts it without `--limit` (its default)."""

    def __init__(self, env: Dict[str, str], home: Path, url: str, project: str, limit: Optional[int],
                 extra_args: List[str] = ()) -> None:
        self.label = f"agent-test-{uuid.uuid4().hex[:8]}"
        self.url = url
        self.home = home
        self.gql = GraphQL(url)
        self.client = Client(api_server=url)
        self.project = project
        self.log = home / f"{self.label}.log"
        limit_args = ["--limit", str(limit)] if limit is not None else []
        command = [sys.executable, "-m", "tasks_flowrun.cli", "agent", "--name", self.label, "--show-flow-logs",
                   "--stop-runs-on-exit", "--no-hostname-label", "--label", self.label, *limit_args, *extra_args]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def register(self, script: str) -> str:
        path = FLOWS / script
        flow = extract_flow_from_file(file_path=str(path))
        flow.storage = Local(path=str(path), stored_as_script=True, add_default_labels=False)
        flow.run_config = LocalRun(labels=[self.label])
        with set_temporary_config(prefect_config(self.url, self.home)):
            return flow.register(project_name=self.project, no_url=True)

    def start(self, flow_id: str, **parameters) -> str:
        return self.client.create_flow_run(flow_id=flow_id, parameters=parameters)

    def run(self, flow_run_id: str) -> Dict:
        query = ("query($id: uuid!) { flow_run(where: {id: {_eq: $id}}) { id state state_message version "
                 "times_resurrected task_runs { state } } }")
        return self.gql.data(query, {"id": flow_run_id})["flow_run"][0]

    def states(self, ids: List[str]) -> Dict[str, str]:
        query = "query($ids: [uuid!]) { flow_run(where: {id: {_in: $ids}}) { id state } }"
        return {r["id"]: r["state"] for r in self.gql.data(query, {"ids": ids})["flow_run"]}

    def runs_of(self, flow_id: str) -> List[Dict]:
        query = ("query($id: uuid!) { flow_run(where: {flow_id: {_eq: $id}}) { id state context "
                 "times_resurrected } }")
        return self.gql.data(query, {"id": flow_id})["flow_run"]

    def final(self, flow_run_id: str, timeout: float = 60) -> Dict:
        def finished() -> Optional[Dict]:
            run = self.run(flow_run_id)
            return run if run["state"] in FINISHED else None

        return wait_until(finished, timeout=timeout, interval=0.1, what=lambda: f"{flow_run_id} to finish; "
                          f"agent log: {self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def own_agent(backend_env, test_home: Path, project: str, server) -> Iterator[Callable[..., OwnAgent]]:
    """Factory: `own_agent(limit=N, extra_args=[...])` starts an agent of the test's own on the
    session's backend (stopped after the test); `limit=None` leaves `--limit` at its default."""
    started: List[OwnAgent] = []

    def start(limit: Optional[int] = 4, extra_args: List[str] = ()) -> OwnAgent:
        agent = OwnAgent(backend_env, test_home, server.url, project, limit, list(extra_args))
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


class ShortTimeoutBackend:
    """An embedded backend judging a run dead after 6 s of silence (one reschedule at most)."""

    def __init__(self, server, home: Path) -> None:
        self.server = server
        self.url = server.url
        self.home = home
        self.env = {**prefect_env(server.url, home), **FAST_HEARTBEATS}
        self.project = f"liveness-{uuid.uuid4().hex[:6]}"
        with set_temporary_config(prefect_config(self.url, home)):
            Client(api_server=self.url).create_project(self.project)


@pytest.fixture(scope="module")
def short_timeout_backend(tmp_path_factory) -> Iterator[ShortTimeoutBackend]:
    from tasks_flowrun.server.embedded import EmbeddedServer
    from tasks_flowrun.server.settings import ServerSettings

    home = tmp_path_factory.mktemp("short-timeout-home")
    settings = ServerSettings(port=0, database=fresh_database(home), heartbeat_timeout=SHORT_HEARTBEAT_TIMEOUT,
                              max_resurrections=1)
    with EmbeddedServer(settings=settings) as server:
        yield ShortTimeoutBackend(server, home)


@pytest.fixture
def short_timeout_agent(short_timeout_backend: ShortTimeoutBackend) -> Iterator[Callable[..., OwnAgent]]:
    """Factory: an agent of the test's own on the short-timeout backend."""
    started: List[OwnAgent] = []
    backend = short_timeout_backend

    def start(limit: Optional[int] = 4, extra_args: List[str] = ()) -> OwnAgent:
        agent = OwnAgent(backend.env, backend.home, backend.url, backend.project, limit, list(extra_args))
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


def zombies_of(*parents: int) -> List[int]:
    """Processes in state Z whose parent is one of `parents`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and int(fields[1]) in parents:
            found.append(int(entry.name))
    return found


def children_of(parent: int) -> List[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
