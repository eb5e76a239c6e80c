"""Helpers for the plugin's tests: register flow scripts, run flows through the agent, read runs."""
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from prefect import Client
from prefect.backend import FlowRunView
from prefect.storage import Local
from prefect.utilities.graphql import with_args
from prefect.utilities.storage import extract_flow_from_file

from tasks_flowrun.client import FLOW_CACHE, forget_capabilities
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


def count_runs_a_test_could_make(client: Client, flow_name: str, projects: List[str]) -> int:
    """Flow runs of any flow named `flow_name` (in any project) or of any flow in `projects`:
    what a test asking for runs of those could have made, whereas runs of other flows, which
    other tests' processes may still be creating on the shared backend, are not counted."""
    where = {"_or": [{"flow": {"name": {"_eq": flow_name}}}, {"flow": {"project": {"name": {"_in": projects}}}}]}
    return len(flow_runs(client, where))


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


@pytest.fixture(autouse=True)
def fresh_flow_cache():
    """Each test starts with an empty process-level look-up cache (no entry leaks between tests)."""
    FLOW_CACHE.clear()
    yield
    FLOW_CACHE.clear()


@pytest.fixture
def polling_only(server):
    """The plugin treats the session's backend as one without pushed changes (as Prefect
    Server is): waits poll, as they do there."""
    from tasks_flowrun.client.change_stream import ChangeStream

    ChangeStream(Client(api_server=server.url)).give_up()
    yield
    forget_capabilities()


@pytest.fixture
def requests_counter(server, monkeypatch):
    """Count the HTTP requests this process sends to the backend inside a `with` block.

    Call-through spies on `prefect.Client._request` (GraphQL) and on the pushed-changes
    stream's `_post` (`POST /watch`, counted as the field `watch`) count exactly what the
    tasks send, whatever else (the session's agent) talks to the server at the same time;
    the root fields come from the queries' text. The server's own counter must have seen at
    least as many requests.
    """
    from tasks_flowrun.client.change_stream import ChangeStream

    sent: List[str] = []
    real_request = Client._request
    real_post = ChangeStream._post

    def spy(self: Client, method: str, path: str, params: Any = None, **kwargs: Any) -> Any:
        if threading.current_thread().name != LOG_UPLOADER:  # Prefect's own log shipping is not the tasks'
            sent.append(str((params or {}).get("query", "")))
        return real_request(self, method, path, params=params, **kwargs)

    def watch_spy(self: ChangeStream, body: Any, hold: float) -> Any:
        sent.append(WATCH)
        return real_post(self, body, hold)

    monkeypatch.setattr(Client, "_request", spy)
    monkeypatch.setattr(ChangeStream, "_post", watch_spy)

    class Counter:
        def __enter__(self) -> "Counter":
            self.start = len(sent)
            self.server_before = server.stats.snapshot()["requests"]
            return self

        def __exit__(self, *exc: Any) -> None:
            queries = sent[self.start :]
            self.requests = len(queries)
            self.texts = set(queries)  # distinct documents: what a backend's parse cache sees
            self.fields: Dict[str, int] = {}
            for query in queries:
                for name in root_fields(query):
                    self.fields[name] = self.fields.get(name, 0) + 1
            assert server.stats.snapshot()["requests"] - self.server_before >= self.requests

    return Counter


WATCH = "<watch>"  # what the counter records for a `POST /watch`
LOG_UPLOADER = "prefect-log-manager"  # the thread Prefect uploads a backend run's log lines from


def root_fields(query: str) -> List[str]:
    """The root field names of a GraphQL document (parsed with graphql-core); `watch` for a
    `POST /watch`."""
    from graphql import parse

    names: List[str] = []
    if query == WATCH:
        return ["watch"]
    if not query:
        return names
    for definition in parse(query).definitions:
        names += [selection.name.value for selection in definition.selection_set.selections]
    return names
