"""What the agent asks of the backend beyond the stock agent: its runs' states, finishing a
cancellation its process could not finish, reporting a run whose process died, vouching for
the runs whose processes live, and the parents of due runs."""
import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from prefect import Client
from prefect.engine.state import Cancelled
from prefect.serialization.state import StateSchema
from prefect.utilities.graphql import with_args

ALIVE_STATES = ("Submitted", "Running")
CANCEL_STATES = ("Cancelling", "Cancelled")
UNFINISHED_STATES = ("Submitted", "Running", "Cancelling")
REPORT_DEAD = "report_dead_flow_run"
REPORT_LIVE = "report_live_flow_runs"


@dataclass(frozen=True)
class DeadReport:
    """What came of a dead-run report: `recovered` when the backend recovered the run now;
    `supported` False when the backend has no such mutation (its heartbeat timeout will);
    `error` the backend's reason for doing nothing (e.g. the run was deployed again since)."""

    recovered: bool
    supported: bool = True
    error: Optional[str] = None


class Backend:
    """Calls through the agent's `prefect.Client`, against any Prefect 1 backend.

    `report_dead` and `report_live` use the embedded backend's `report_dead_flow_run` and
    `report_live_flow_runs` mutations; each finds out once whether the backend has them
    (and whether `report_dead_flow_run` takes `flow_run_version`) and falls back for good:
    a dead run is then left to the backend's heartbeat timeout, live runs get one
    `update_flow_run_heartbeat` each.
    """

    def __init__(self, client: Client, logger: logging.Logger) -> None:
        self.client = client
        self.logger = logger
        self.reports_dead_runs: Optional[bool] = None  # unknown until first tried
        self.fences_dead_reports: Optional[bool] = None  # takes `flow_run_version`
        self.vouches: Optional[bool] = None  # has `report_live_flow_runs`

    def states(self, flow_run_ids: List[str]) -> Dict[str, str]:
        """Current state name of each run (runs the backend no longer has are absent)."""
        if not flow_run_ids:
            return {}
        query = {"query": {with_args("flow_run", {"where": {"id": {"_in": list(flow_run_ids)}}}): {"id", "state"}}}
        rows = self.client.graphql(query).data.flow_run
        return {row.id: row.state for row in rows}

    def state(self, flow_run_id: str) -> Optional[str]:
        return self.states([flow_run_id]).get(flow_run_id)

    def parents(self, flow_run_ids: List[str]) -> Dict[str, Tuple[Optional[str], str]]:
        """(parent flow run id from the run's context, scheduled start time) of each run."""
        if not flow_run_ids:
            return {}
        query = {"query": {with_args("flow_run", {"where": {"id": {"_in": list(flow_run_ids)}}}): {
            "id", "context", "scheduled_start_time"}}}
        rows = self.client.graphql(query).data.flow_run
        found = {}
        for row in rows:
            context = row.context if isinstance(row.context, dict) else {}
            parent = context.get("parent_flow_run_id")
            found[row.id] = (parent if isinstance(parent, str) else None, str(row.scheduled_start_time or ""))
        return found

    def finish_cancellation(self, flow_run_id: str, why: str) -> bool:
        """Mark the run and its unfinished task runs Cancelled, unless it already ended;
        returns True when this call did it."""
        query = {"query": {with_args("flow_run", {"where": {"id": {"_eq": flow_run_id}}}): {
            "state": True, "task_runs": {"id", "serialized_state"}}}}
        rows = self.client.graphql(query).data.flow_run
        if not rows or rows[0].state not in UNFINISHED_STATES:
            return False
        for task_run in rows[0].task_runs:
            if not StateSchema().load(task_run.serialized_state).is_finished():
                self.client.set_task_run_state(task_run.id, Cancelled(why))
        self.client.set_flow_run_state(flow_run_id, Cancelled(why))
        return True

    def report_dead(self, flow_run_id: str, reason: str, deploy_version: Optional[int] = None) -> DeadReport:
        """Tell the backend the run's process died, so that it recovers the run now.

        `deploy_version` (the run's version when this agent set it Submitted) fences the
        report: the backend recovers the run only if that deployment is still its latest,
        never a run deployed again since (by this or another agent). A backend that does not
        know the argument gets the report without it.
        """
        if self.reports_dead_runs is False:
            return DeadReport(recovered=False, supported=False)
        payload: Dict[str, object] = {"flow_run_id": flow_run_id, "reason": reason}
        fenced = deploy_version is not None and self.fences_dead_reports is not False
        if fenced:
            payload["flow_run_version"] = deploy_version
        mutation = {"mutation($input: report_dead_flow_run_input!)": {
            f"{REPORT_DEAD}(input: $input)": {"success", "error"}}}
        try:
            answer = self.client.graphql(mutation, variables={"input": payload}).data[REPORT_DEAD]
        except Exception as exc:
            message = str(exc)
            if fenced and _mentions_unknown(message, "flow_run_version"):
                self.fences_dead_reports = False
                self.logger.info("The backend's %s takes no flow_run_version: dead-run reports are sent "
                                 "without it (a late report could recover a run deployed again)", REPORT_DEAD)
                return self.report_dead(flow_run_id, reason, None)
            if _mentions_unknown(message, REPORT_DEAD):
                self.reports_dead_runs = False
                self.logger.info("The backend has no %s mutation: dead flow processes are recovered "
                                 "by its heartbeat timeout instead", REPORT_DEAD)
                return DeadReport(recovered=False, supported=False)
            raise
        self.reports_dead_runs = True
        if fenced:
            self.fences_dead_reports = True
        return DeadReport(recovered=bool(answer.success), error=answer.error)

    def report_live(self, runs: List[Tuple[str, int]]) -> Optional[List[str]]:
        """Vouch for runs whose flow processes this agent sees alive: (flow run id, deploy
        version) each, in one request. Returns the runs the backend counted as live, or None
        when it has no `report_live_flow_runs` (then call `heartbeat` per run instead)."""
        if self.vouches is False:
            return None
        if not runs:
            return []
        mutation = {"mutation($input: report_live_flow_runs_input!)": {
            f"{REPORT_LIVE}(input: $input)": {"success", "live"}}}
        items = [{"flow_run_id": run_id, "flow_run_version": version} for run_id, version in runs]
        try:
            answer = self.client.graphql(mutation, variables={"input": {"flow_runs": items}}).data[REPORT_LIVE]
        except Exception as exc:
            if _mentions_unknown(str(exc), REPORT_LIVE):
                self.vouches = False
                self.logger.info("The backend has no %s mutation: the agent sends a heartbeat per live "
                                 "flow run instead", REPORT_LIVE)
                return None
            raise
        self.vouches = True
        return [str(i) for i in (answer.live or [])]

    def heartbeat(self, flow_run_id: str) -> None:
        """Prefect's own heartbeat for one run (the fallback of `report_live`)."""
        self.client.update_flow_run_heartbeat(flow_run_id)


def _mentions_unknown(message: str, name: str) -> bool:
    """Whether a GraphQL error says `name` (a mutation, its input type or an argument) does
    not exist."""
    text = message.lower()
    missing = any(k in text for k in ("cannot query field", "unknown type", "not exist", "not found",
                                      "no such", "undefined", "is not defined"))
    return name.lower() in text and missing
