"""Agents of the agent tests' own: `tasks-flowrun agent` with a label no other agent has, so
that only it takes the runs created here (flows registered without the hostname label)."""
import uuid
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest
from prefect.run_configs import LocalRun
from prefect.storage import Local
from prefect.utilities.storage import extract_flow_from_file

from tests.helpers import start_agent, stop_process, wait_until
from tests.server.support import GraphQL

FLOWS = Path(__file__).with_name("flows")


class OwnAgent:
    """A `tasks-flowrun agent` serving only `label`, and helpers to run flows through it."""

    def __init__(self, env: Dict[str, str], home: Path, gql: GraphQL, project: str, limit: int) -> None:
        self.label = f"agent-test-{uuid.uuid4().hex[:8]}"
        self.gql = gql
        self.project = project
        self.log = home / f"{self.label}.log"
        self.process = start_agent(env, self.log, labels=[self.label],
                                   extra_args=["--no-hostname-label", "--limit", str(limit)])

    def register(self, script: str) -> str:
        path = FLOWS / script
        flow = extract_flow_from_file(file_path=str(path))
        flow.storage = Local(path=str(path), stored_as_script=True, add_default_labels=False)
        flow.run_config = LocalRun(labels=[self.label])
        return flow.register(project_name=self.project, no_url=True)

    def run(self, flow_run_id: str) -> Dict:
        query = ("query($id: uuid!) { flow_run(where: {id: {_eq: $id}}) { id state state_message "
                 "times_resurrected task_runs { state } } }")
        return self.gql.data(query, {"id": flow_run_id})["flow_run"][0]

    def states(self, ids: List[str]) -> Dict[str, str]:
        query = "query($ids: [uuid!]) { flow_run(where: {id: {_in: $ids}}) { id state } }"
        return {r["id"]: r["state"] for r in self.gql.data(query, {"ids": ids})["flow_run"]}

    def final(self, flow_run_id: str, timeout: float = 60) -> Dict:
        def finished() -> Optional[Dict]:
            run = self.run(flow_run_id)
            return run if run["state"] in ("Success", "Failed", "Cancelled", "TimedOut") else None

        return wait_until(finished, timeout=timeout, interval=0.1, what=lambda: f"{flow_run_id} to finish; "
                          f"agent log: {self.log.read_text()[-3000:] if self.log.exists() else ''}")

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def own_agent(backend_env, test_home: Path, project: str, server) -> Iterator[Callable[..., OwnAgent]]:
    """Factory: `own_agent(limit=N)` starts an agent of the test's own (stopped after the test)."""
    started: List[OwnAgent] = []

    def start(limit: int = 4) -> OwnAgent:
        agent = OwnAgent(backend_env, test_home, GraphQL(server.url), project, limit)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()
