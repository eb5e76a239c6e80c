"""Helpers for the backend tests: raw GraphQL over HTTP, the real Prefect CLI, registered flows.

Everything here talks to the real embedded backend over HTTP; nothing is mocked.
"""
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import requests

# Text that must never reach a client inside an error message.
LEAK_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy", "sqlite3.", "psycopg", "OperationalError")
# Magic strings the Prefect client reacts to (docs/architecture.md, "Prefect 1 API compatibility"); the backend must not emit them by accident.
MAGIC_MARKERS = ("API_ERROR", "UNAUTHENTICATED", "Malformed Authorization header")


def assert_clean_message(message: str, sent: str = "") -> None:
    """An error message a user can read: no stack trace, no SQL internals, no magic client
    strings, other than what the request itself `sent` (a name it used, quoted back)."""
    assert isinstance(message, str) and message.strip(), f"empty error message: {message!r}"
    for marker in LEAK_MARKERS + MAGIC_MARKERS:
        if marker in sent:
            continue
        assert marker not in message, f"error message leaks {marker!r}: {message!r}"


class GraphQL:
    """Posts GraphQL documents to the backend exactly as `prefect.Client` does (or as a user would)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.headers = {"X-PREFECT-CORE-VERSION": "1.4.1"}

    def post(
        self,
        query: str,
        variables: Any = None,
        *,
        path: str = "/",
        variables_as: str = "string",
        headers: Optional[Dict[str, str]] = None,
        timeout: float = 30,
    ) -> requests.Response:
        """POST one document. `variables_as`: "string" (the client's wire format, "null" when None),
        "object" (a JSON object) or "absent" (no `variables` key)."""
        body: Dict[str, Any] = {"query": query}
        if variables_as == "string":
            body["variables"] = json.dumps(variables)
        elif variables_as == "object":
            body["variables"] = variables
        elif variables_as != "absent":
            raise ValueError(variables_as)
        return requests.post(
            self.url + path, json=body, headers={**self.headers, **(headers or {})}, timeout=timeout
        )

    def data(self, query: str, variables: Any = None, **kwargs: Any) -> Dict[str, Any]:
        """The `data` of a successful answer; fails the test on any error."""
        resp = self.post(query, variables, **kwargs)
        assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.text[:2000]}"
        body = resp.json()
        assert not body.get("errors"), f"unexpected errors: {body.get('errors')}"
        assert "data" in body, body
        return body["data"]

    def errors(self, query: str, variables: Any = None, *, statuses: Sequence[int] = (200, 400), **kwargs: Any) -> List[dict]:
        """The `errors` of a refused request; fails the test if there are none or if they leak internals."""
        resp = self.post(query, variables, **kwargs)
        assert resp.status_code in statuses, f"HTTP {resp.status_code} (expected one of {statuses}): {resp.text[:2000]}"
        body = resp.json()
        errors = body.get("errors")
        assert errors, f"expected GraphQL errors, got {body}"
        for error in errors:
            assert_clean_message(error.get("message"))
        return errors

    # --- shortcuts for the operations most tests need -------------------------------------------

    def create_flow_run(self, **input_: Any) -> str:
        data = self.data(
            "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
            {"input": input_},
        )
        return data["create_flow_run"]["id"]

    def create_flow_run_errors(self, **input_: Any) -> List[dict]:
        return self.errors(
            "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
            {"input": input_},
        )

    def flow_run(self, flow_run_id: str) -> Optional[dict]:
        """One flow run with its task runs and states, selecting only fields the Prefect client itself
        selects somewhere. States are sorted by timestamp; every state and task run gets a `type` key
        taken from its `serialized_state`."""
        data = self.data(
            """query { flow_run_by_pk(id: %s) {
                id name flow_id state version labels parameters context scheduled_start_time
                serialized_state run_config
                states { serialized_state timestamp }
                task_runs { id map_index version serialized_state task { id slug } }
            } }"""
            % json.dumps(flow_run_id)
        )
        run = data["flow_run_by_pk"]
        if run is not None:
            run["states"] = sorted(run["states"], key=lambda s: parse_time(s["timestamp"]))
            for item in run["states"] + run["task_runs"]:
                item["type"] = (item["serialized_state"] or {}).get("type")
        return run

    def flow_run_ids(self, flow_id: str) -> List[str]:
        data = self.data('query { flow_run(where: {flow_id: {_eq: %s}}) { id } }' % json.dumps(flow_id))
        return [row["id"] for row in data["flow_run"]]

    def task_run_count(self, flow_id: str) -> int:
        data = self.data(
            'query { task_run(where: {flow_run: {flow_id: {_eq: %s}}}) { id } }' % json.dumps(flow_id)
        )
        return len(data["task_run"])

    def set_flow_run_state(self, flow_run_id: str, state: Any, version: Optional[int] = None) -> requests.Response:
        return self.post(
            "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { id status message } } }",
            {"input": {"states": [{"flow_run_id": flow_run_id, "version": version, "state": state.serialize()}]}},
        )

    def set_task_run_state(self, task_run_id: str, state: Any, version: Optional[int] = None) -> requests.Response:
        return self.post(
            "mutation($input: set_task_run_states_input!) { set_task_run_states(input: $input) { states { id status message } } }",
            {"input": {"states": [{"task_run_id": task_run_id, "version": version, "state": state.serialize()}]}},
        )

    def runs_in_queue(self, tenant_id: str, labels: Iterable[str], before: Optional[str] = None) -> List[str]:
        input_: Dict[str, Any] = {"tenant_id": tenant_id, "labels": list(labels)}
        if before is not None:
            input_["before"] = before
        data = self.data(
            "mutation($input: get_runs_in_queue_input!) { get_runs_in_queue(input: $input) { flow_run_ids } }",
            {"input": input_},
        )
        ids = data["get_runs_in_queue"]["flow_run_ids"]
        assert all(isinstance(i, str) for i in ids), ids
        return ids


def parse_time(value: str):
    import pendulum

    return pendulum.parse(value)


def ok_status(resp: requests.Response) -> dict:
    """The body of a successful state-setter answer."""
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert not body.get("errors"), body
    return body["data"]


# --- the real Prefect CLI -------------------------------------------------------------------------


def run_prefect(args: Sequence[str], env: Dict[str, str], timeout: float = 120, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run `python -m prefect <args>` (the real CLI) and capture its output (stdout + stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=env,
        cwd=str(cwd) if cwd else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


# --- flows registered through the real client -----------------------------------------------------


@dataclass
class RegisteredFlow:
    id: str
    name: str
    project: str
    version: int
    version_group_id: str
    flow_group_id: str
    flow: Any  # the prefect.Flow object that was registered


def flow_metadata(gql: GraphQL, flow_id: str) -> dict:
    data = gql.data(
        "query { flow_by_pk(id: %s) { id name version version_group_id flow_group_id archived } }"
        % json.dumps(flow_id)
    )
    assert data["flow_by_pk"] is not None, f"flow {flow_id} not found"
    return data["flow_by_pk"]


def build_flow(
    name: str,
    *,
    parameters: Sequence[Any] = (),
    n_tasks: int = 1,
    labels: Sequence[str] = (),
    storage_dir: Path,
    task_prefix: str = "step",
):
    """A small in-memory flow with Local storage that adds no hostname label (so no agent ever takes its runs)."""
    from prefect import Flow, Task
    from prefect.run_configs import UniversalRun
    from prefect.storage import Local

    flow = Flow(name)
    for parameter in parameters:
        flow.add_task(parameter)
    previous = None
    for i in range(n_tasks):
        current = Task(name=f"{task_prefix}-{i}")
        flow.add_task(current)
        if previous is not None:
            flow.add_edge(previous, current)
        previous = current
    flow.storage = Local(directory=str(storage_dir), add_default_labels=False)
    flow.run_config = UniversalRun(labels=list(labels))
    return flow


def register(gql: GraphQL, flow: Any, project: str, **kwargs: Any) -> RegisteredFlow:
    """`flow.register(project_name=...)`: the real Client registration path."""
    kwargs.setdefault("no_url", True)
    flow_id = flow.register(project_name=project, **kwargs)
    meta = flow_metadata(gql, flow_id)
    return RegisteredFlow(
        id=flow_id,
        name=flow.name,
        project=project,
        version=meta["version"],
        version_group_id=meta["version_group_id"],
        flow_group_id=meta["flow_group_id"],
        flow=flow,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
