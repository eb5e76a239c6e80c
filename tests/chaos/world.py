"""One scenario's world: a backend on its own database, its agents, the two chaos flows
registered, a work directory for the evidence, and reads of the runs that tolerate a
backend that is down (faults are the point)."""
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import requests
from prefect import Client
from prefect.storage import Local
from prefect.utilities.configuration import set_temporary_config
from prefect.utilities.storage import extract_flow_from_file

from tests.chaos import schedule
from tests.chaos.evidence import Evidence
from tests.chaos.processes import kill_all_mentioning
from tests.chaos.services import STOCK_AGENT, Agent, Backend
from tests.helpers import prefect_env
from tasks_flowrun.net import free_port
from tests.server.support import GraphQL

FLOWS_FILE = Path(__file__).with_name("flows") / "chaos_flows.py"
FINAL_STATES = ("Success", "Failed", "Cancelled", "TimedOut", "Skipped")
RUN_FIELDS = "id name state state_message times_resurrected context"
SCENARIO_VARIABLE = "TASKS_FLOWRUN_CHAOS_SCENARIO"


class World:
    """Start with `with World(...) as world:`; everything it started is stopped on exit, and
    every process of the scenario (found by a variable in its environment) is killed."""

    def __init__(self, agent_kind: str, folder: Path, database: Union[Path, str], agents: int = 1) -> None:
        self.folder = folder
        self.workdir = folder / "work"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.evidence = Evidence(self.workdir)
        self.token = f"{SCENARIO_VARIABLE}={uuid.uuid4().hex}"  # in the environment of all its processes
        self.project = f"chaos-{uuid.uuid4().hex[:6]}"
        self.backend: Optional[Backend] = None
        self.agents: List[Agent] = []  # the first one is the one agent faults hit
        self._agent_kind = agent_kind
        self._agent_count = agents
        self._database = database
        self._config = None

    @property
    def url(self) -> str:
        assert self.backend is not None
        return self.backend.url

    def __enter__(self) -> "World":
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        home = self.folder / "prefect"
        home.mkdir(exist_ok=True)
        name, value = self.token.split("=")
        port = free_port()
        env = {**prefect_env(f"http://127.0.0.1:{port}", home), **schedule.FLOW_PROCESS_ENV, name: value}
        env.pop("PYTEST_CURRENT_TEST", None)
        self.backend = backend = Backend(self._database, self.folder, env, port, schedule.HEARTBEAT_TIMEOUT,
                                         schedule.MAX_RESURRECTIONS, schedule.SUBMITTED_TIMEOUT)
        backend.start()
        self.gql = GraphQL(backend.url)
        config = {"backend": "server", "server.endpoint": backend.url, "cloud.api": backend.url,
                  "cloud.graphql": backend.url + "/graphql", "home_dir": str(home)}
        self._config = set_temporary_config(config)
        self._config.__enter__()
        client = Client(api_server=backend.url)
        client.create_project(self.project)
        self.parent_flow_id = self._register("chaos-parent")
        self._register("chaos-child")
        self.client = client
        limit = schedule.CHILDREN + 8  # every child at once, the waiting parent, and reruns
        agent_env = {**env, **(schedule.STOCK_AGENT_ENV if self._agent_kind == STOCK_AGENT else {})}
        for number in range(1, self._agent_count + 1):
            agent = Agent(self._agent_kind, agent_env, self.folder, limit, name=f"chaos-agent-{number}")
            self.agents.append(agent)
            agent.start()

    def _register(self, flow_name: str) -> str:
        flow = extract_flow_from_file(file_path=str(FLOWS_FILE), flow_name=flow_name)
        flow.storage = Local(path=str(FLOWS_FILE), stored_as_script=True)
        return flow.register(project_name=self.project, no_url=True)

    def __exit__(self, *exc: Any) -> None:
        """Kill every process of the scenario at once (SIGKILL: the evidence is on disk, and a
        suspended process needs no SIGCONT for it), then reap the ones started here."""
        try:
            kill_all_mentioning(self.token)
            for service in [self.backend, *self.agents]:
                if service is not None and service.process is not None:
                    service.process.kill()
                    service.process.wait()
        finally:
            if self._config is not None:
                self._config.__exit__(None, None, None)

    # --- the fan-out --------------------------------------------------------------------------

    def start_parent(self) -> str:
        parameters = {"workdir": str(self.workdir), "project": self.project, "n": schedule.CHILDREN,
                      "steps": schedule.STEPS, "seconds": schedule.SECONDS}
        return self.client.create_flow_run(flow_id=self.parent_flow_id, parameters=parameters)

    def run(self, flow_run_id: str) -> Optional[Dict[str, Any]]:
        """The run as the backend has it; None while the backend does not answer."""
        rows = self._read(f"query($id: uuid!) {{ flow_run(where: {{id: {{_eq: $id}}}}) {{ {RUN_FIELDS} }} }}",
                          {"id": flow_run_id})
        return rows[0] if rows else None

    def children(self, parent_id: str) -> Optional[List[Dict[str, Any]]]:
        """The parent's children (by the idempotency keys its create task derives from the
        parent's id); None while the backend does not answer."""
        return self._read(f"query($key: String) {{ flow_run(where: {{idempotency_key: {{_like: $key}}}}) "
                          f"{{ {RUN_FIELDS} idempotency_key }} }}", {"key": f"{parent_id}:%"})

    def state_histories(self, flow_run_ids: List[str]) -> Optional[Dict[str, List[str]]]:
        """Each run's states, oldest first (by version); None while the backend does not answer."""
        query = ("query($ids: [uuid!]) { flow_run_state(where: {flow_run_id: {_in: $ids}}, "
                 "order_by: [{flow_run_id: asc}, {version: asc}, {timestamp: asc}], limit: 5000) "
                 "{ flow_run_id state } }")
        rows = self._read(query, {"ids": flow_run_ids}, table="flow_run_state")
        if rows is None:
            return None
        histories: Dict[str, List[str]] = {run_id: [] for run_id in flow_run_ids}
        for row in rows:
            histories.setdefault(row["flow_run_id"], []).append(row["state"])
        return histories

    def _read(self, query: str, variables: Dict[str, Any], table: str = "flow_run") -> Optional[List[Dict[str, Any]]]:
        try:
            response = self.gql.post(query, variables, timeout=3)
            body = response.json()
        except (requests.RequestException, ValueError):
            return None
        if response.status_code != 200 or body.get("errors") or "data" not in body:
            return None
        return body["data"][table]
