"""The lifecycle tests run on a backend of their own with a short heartbeat timeout (10 s)
and a budget of one reschedule, and Prefect's stock LocalAgent whose flow processes
heartbeat and check for cancellation every 2 s, so that deaths and cancellations settle in
seconds."""
import os
import signal
import uuid
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pytest
from prefect import Client
from prefect.storage import Local
from prefect.utilities.configuration import set_temporary_config
from prefect.utilities.storage import extract_flow_from_file

from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.settings import ServerSettings
from tests.helpers import prefect_env, start_agent, stop_process, wait_until
from tests.lifecycle.outages import Outage, ServerProcess
from tests.stores import fresh_database
from tests.server.support import GraphQL

FLOWS = Path(__file__).with_name("flows")
HEARTBEAT_TIMEOUT = 10.0
# What the flow processes started by the agent inherit (Prefect reads these settings).
FAST_FLOW_PROCESSES = {
    "PREFECT__CLOUD__HEARTBEAT_INTERVAL": "2",
    "PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL": "2",
}


class Lifecycle:
    """The lifecycle backend: its URL, a raw GraphQL helper, a client, a project, a work dir."""

    def __init__(self, server: EmbeddedServer, home: Path) -> None:
        self.server = server
        self.url = server.url
        self.gql = GraphQL(server.url)
        self.client = Client(api_server=server.url)
        self.project = f"lifecycle-{uuid.uuid4().hex[:6]}"
        self.client.create_project(self.project)
        self.home = home

    def register(self, script: str) -> str:
        path = FLOWS / script
        flow = extract_flow_from_file(file_path=str(path))
        flow.storage = Local(path=str(path), stored_as_script=True)
        return flow.register(project_name=self.project, no_url=True)

    def start(self, flow_id: str, **parameters) -> str:
        return self.client.create_flow_run(flow_id=flow_id, parameters=parameters)

    def run(self, flow_run_id: str) -> Dict:
        query = ("query($id: uuid!) { flow_run(where: {id: {_eq: $id}}) { id name state state_message "
                 "times_resurrected context task_runs { id map_index state task { slug } } } }")
        return self.gql.data(query, {"id": flow_run_id})["flow_run"][0]

    def children(self, parent_id: str) -> List[Dict]:
        query = ("query($key: String) { flow_run(where: {idempotency_key: {_like: $key}}) "
                 "{ id name state context idempotency_key } }")
        return self.gql.data(query, {"key": f"{parent_id}:%"})["flow_run"]

    def final(self, flow_run_id: str, timeout: float) -> Dict:
        def finished():
            run = self.run(flow_run_id)
            return run if run["state"] in ("Success", "Failed", "Cancelled", "TimedOut") else None

        return wait_until(finished, timeout=timeout, interval=0.25, what=f"flow run {flow_run_id} to finish")


@pytest.fixture(scope="package")
def lifecycle(tmp_path_factory) -> Iterator[Lifecycle]:
    home = tmp_path_factory.mktemp("lifecycle-home")
    settings = ServerSettings(port=0, database=fresh_database(home), heartbeat_timeout=HEARTBEAT_TIMEOUT,
                              max_resurrections=1)
    with EmbeddedServer(settings=settings) as server:
        env = {**prefect_env(server.url, home), **FAST_FLOW_PROCESSES}
        config = {"backend": "server", "server.endpoint": server.url, "cloud.api": server.url,
                  "cloud.graphql": server.url + "/graphql", "home_dir": str(home)}
        with set_temporary_config(config):
            # Prefect's own LocalAgent: these tests are about what the backend does on its own
            # (its flow processes heartbeat from a `prefect heartbeat` subprocess, which a kill
            # of the flow process leaves orphaned); `tasks-flowrun agent`, which reports a dead
            # process at once, has its own tests in tests/agent.
            agent = start_agent(env, home / "agent.log", fast=False)
            try:
                yield Lifecycle(server, home)
            finally:
                stop_process(agent)
                kill_processes_of(None, home=str(home))


@pytest.fixture
def make_outage(tmp_path: Path) -> Iterator[Callable[..., Outage]]:
    """`make(timeout, agent=True)`: a real `tasks-flowrun server` process (heartbeat and
    Submitted timeouts `timeout`) on a fresh database, with Prefect's stock LocalAgent."""
    made = []

    def make(timeout: float, agent: bool = True) -> Outage:
        home = tmp_path / f"home-{len(made)}"
        home.mkdir()
        workdir = tmp_path / f"work-{len(made)}"
        workdir.mkdir()
        server = ServerProcess(fresh_database(home, "outage"), home, "--heartbeat-timeout", f"{timeout:g}",
                               "--submitted-timeout", f"{timeout:g}")
        setup = Outage(server, home, workdir)
        made.append(setup)
        server.start()
        if agent:
            setup.start_agent()
        return setup

    yield make
    for setup in made:
        setup.close()


@pytest.fixture
def workdir(tmp_path) -> str:
    return str(tmp_path)


def processes_mentioning(text: str) -> List[int]:
    """Pids of this machine's processes whose command line or environment contains `text`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            pids.append(int(entry.name))
    return pids


def heartbeat_processes(flow_run_id: str) -> List[int]:
    """The `prefect heartbeat flow-run -i <id>` processes of a run."""
    pids = []
    for pid in processes_mentioning(flow_run_id):
        try:
            if b"heartbeat" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            pass
    return pids


def kill(pids: List[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_processes_of(flow_run_id, home: str = "") -> None:
    """Leave nothing behind: orphaned heartbeat processes keep running otherwise."""
    kill(processes_mentioning(flow_run_id or home))
