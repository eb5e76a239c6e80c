"""Helpers for the end-to-end tests: flow scripts registered for real, runs watched until they finish."""
import json
from pathlib import Path
from typing import Any, Collection, Dict, Optional, Tuple

from tests.helpers import wait_until
from tests.server.support import GraphQL

FLOWS = Path(__file__).with_name("flows")


def load_script_flow(path: Path):
    """Load the flow of a script the way `prefect register -p` does (Local storage, stored as script)."""
    from prefect.cli.build_register import load_flows_from_script

    (flow,) = load_flows_from_script(str(path))
    return flow


def register_script(path: Path, project: str, **kwargs: Any) -> Tuple[str, Any]:
    """Register the flow in `path` through `flow.register` (Client path). Returns (flow id, flow)."""
    flow = load_script_flow(path)
    kwargs.setdefault("no_url", True)
    flow_id = flow.register(project_name=project, **kwargs)
    return flow_id, flow


def agent_log_tail(agent: Optional[Dict[str, Any]], chars: int = 4000) -> str:
    if not agent:
        return ""
    try:
        return Path(agent["log"]).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def wait_for_run(
    gql: GraphQL, flow_run_id: str, states: Collection[str], timeout: float = 90, agent: Optional[dict] = None
) -> dict:
    """Poll the backend until the flow run's state is one of `states`; on timeout show what happened."""
    seen: Dict[str, Any] = {}

    def reached():
        run = gql.flow_run(flow_run_id)
        seen["run"] = run
        return run if run and run["state"] in states else None

    try:
        return wait_until(reached, timeout=timeout, interval=0.25, what=f"flow run {flow_run_id} in {sorted(states)}")
    except AssertionError as exc:
        run = seen.get("run") or {}
        detail = {
            "state": run.get("state"),
            "states": [s.get("type") for s in run.get("states", [])],
            "task_runs": [(tr["task"]["slug"], tr["map_index"], tr.get("type")) for tr in run.get("task_runs", [])],
        }
        raise AssertionError(f"{exc}\nrun: {detail}\nagent log tail:\n{agent_log_tail(agent)}") from None


def run_logs(gql: GraphQL, flow_run_id: str) -> list:
    data = gql.data(
        'query { flow_run(where: {id: {_eq: %s}}) { logs(order_by: {timestamp: asc}) { message level timestamp } } }'
        % json.dumps(flow_run_id)
    )
    return data["flow_run"][0]["logs"]
