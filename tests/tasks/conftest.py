"""Helpers for the plugin's tests: register flow scripts, run flows through the agent, read runs."""
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from prefect import Client
from prefect.backend import FlowRunView
from prefect.storage import Local
from prefect.utilities.graphql import with_args
from prefect.utilities.storage import extract_flow_from_file

from tests.helpers import wait_until

FLOWS = Path(__file__).with_name("flows")


def register_script(script: str, project: str) -> str:
    """Register the flow defined in `tests/tasks/flows/<script>` (stored as a script, so the
    agent's flow-run processes load it from the file) and return its flow id."""
    path = FLOWS / script
    flow = extract_flow_from_file(file_path=str(path))
    flow.storage = Local(path=str(path), stored_as_script=True)
    return flow.register(project_name=project, no_url=True)


def flow_runs(client: Client, where: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Flow-run rows (id, name, flow_id, context, state, parameters) matching `where`."""
    fields = {"id", "name", "flow_id", "context", "state", "parameters", "labels"}
    result = client.graphql({"query": {with_args("flow_run", {"where": where}): fields}})
    return [row.to_dict() for row in result.data.flow_run]


def runs_of_flow_named(client: Client, name: str, project: str) -> List[Dict[str, Any]]:
    return flow_runs(client, {"flow": {"name": {"_eq": name}, "project": {"name": {"_eq": project}}}})


def count_all_flow_runs(client: Client) -> int:
    return len(client.graphql({"query": {"flow_run": {"id"}}}).data.flow_run)


def wait_finished(flow_run_id: str, timeout: float = 120.0) -> FlowRunView:
    """Wait (test side) until the run is finished; return its view."""

    def finished() -> Optional[FlowRunView]:
        view = FlowRunView.from_flow_run_id(flow_run_id)
        return view if view.state.is_finished() else None

    return wait_until(finished, timeout=timeout, interval=0.25, what=f"flow run {flow_run_id} to finish")


def task_runs(client: Client, flow_run_id: str) -> List[Dict[str, Any]]:
    """Task-run rows (task slug, map index, state) of one flow run."""
    where = {"flow_run_id": {"_eq": flow_run_id}}
    fields = {"id": True, "map_index": True, "state": True, "task": {"slug": True}}
    result = client.graphql({"query": {with_args("task_run", {"where": where}): fields}})
    return [row.to_dict() for row in result.data.task_run]


@pytest.fixture
def requests_counter(server):
    """Count the requests the embedded backend answers inside a `with` block."""

    class Counter:
        def __enter__(self) -> "Counter":
            self.before = server.stats.snapshot()
            return self

        def __exit__(self, *exc: Any) -> None:
            after = server.stats.snapshot()
            self.requests = after["requests"] - self.before["requests"]
            self.fields = {
                k: v - self.before["fields"].get(k, 0)
                for k, v in after["fields"].items()
                if v - self.before["fields"].get(k, 0)
            }

    return Counter
