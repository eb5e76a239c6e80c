"""What the agent asks of the backend beyond the stock agent: its runs' states, finishing a
cancellation its process could not finish, and reporting a run whose process died."""
import logging
from typing import Dict, List, Optional

from prefect import Client
from prefect.engine.state import Cancelled
from prefect.serialization.state import StateSchema
from prefect.utilities.graphql import with_args

ALIVE_STATES = ("Submitted", "Running")
CANCEL_STATES = ("Cancelling", "Cancelled")
UNFINISHED_STATES = ("Submitted", "Running", "Cancelling")
REPORT_DEAD = "report_dead_flow_run"


class Backend:
    """Calls through the agent's `prefect.Client`, against any Prefect 1 backend.

    `report_dead` uses the `report_dead_flow_run` mutation where the backend has it (the
    embedded one); elsewhere the backend's own heartbeat timeout recovers the run.
    """

    def __init__(self, client: Client, logger: logging.Logger) -> None:
        self.client = client
        self.logger = logger
        self.reports_dead_runs: Optional[bool] = None  # unknown until first tried

    def states(self, flow_run_ids: List[str]) -> Dict[str, str]:
        """Current state name of each run (runs the backend no longer has are absent)."""
        if not flow_run_ids:
            return {}
        query = {"query": {with_args("flow_run", {"where": {"id": {"_in": list(flow_run_ids)}}}): {"id", "state"}}}
        rows = self.client.graphql(query).data.flow_run
        return {row.id: row.state for row in rows}

    def state(self, flow_run_id: str) -> Optional[str]:
        return self.states([flow_run_id]).get(flow_run_id)

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

    def report_dead(self, flow_run_id: str, reason: str) -> bool:
        """Tell the backend the run's process died, so it recovers the run now; False when
        the backend has no such mutation (then its heartbeat timeout will)."""
        if self.reports_dead_runs is False:
            return False
        mutation = {"mutation($input: report_dead_flow_run_input!)": {
            f"{REPORT_DEAD}(input: $input)": {"success"}}}
        try:
            self.client.graphql(mutation, variables={"input": {"flow_run_id": flow_run_id, "reason": reason}})
        except Exception as exc:
            if _unknown_operation(str(exc)):
                self.reports_dead_runs = False
                self.logger.info("The backend has no %s mutation: dead flow processes are recovered "
                                 "by its heartbeat timeout instead", REPORT_DEAD)
                return False
            raise
        self.reports_dead_runs = True
        return True


def _unknown_operation(message: str) -> bool:
    """Whether a GraphQL error says the mutation (or its input type) does not exist."""
    text = message.lower()
    mentions = REPORT_DEAD in text
    missing = any(k in text for k in ("cannot query field", "unknown type", "not exist", "not found",
                                      "no such", "undefined"))
    return mentions and missing
