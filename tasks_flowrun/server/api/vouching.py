"""Agents vouching for their live flow processes (`report_live_flow_runs`).

An agent that started a flow process knows it is alive as long as its pid is, even when
the process cannot speak for itself (a task holding the interpreter lock starves its
heartbeat and poll threads). Every few seconds it reports all its live processes in one
request, each with the run's version it read when it deployed it (and sent with its
Submitted state). A run counts as vouched for only if that deployment is still the run's
current one (its latest Submitted state has version `flow_run_version + 1`) and the run is
Submitted, Running or Cancelling: an agent never keeps alive a run recovery handed to
another process. A vouched run gets a heartbeat and a self-poll (see `liveness.py`), as
if its process had sent both.
"""
from typing import Any, Dict, List, Optional

from sqlalchemy.engine import Connection

from ..storage.database import after_commit
from ..storage.runs import latest_submitted_versions, run_states, touch_heartbeats
from ..timestamps import clock
from .errors import ApiError
from .liveness import RunnerPolls

LIVE_STATES = ("Submitted", "Running", "Cancelling")
MAX_VOUCHED = 10_000  # runs in one report


def vouch_for_runs(conn: Connection, reports: List[Dict[str, Any]], polls: Optional[RunnerPolls]) -> List[str]:
    """Record a heartbeat (and, once committed, a self-poll) for each reported run whose
    current deployment is the reporter's; returns their ids, in the order reported."""
    if len(reports) > MAX_VOUCHED:
        raise ApiError(f"report_live_flow_runs takes at most {MAX_VOUCHED:,} runs per request, got {len(reports):,}: "
                       "send them in several requests.")
    versions: Dict[str, int] = {}
    for report in reports:
        versions[str(report["flow_run_id"])] = int(report["flow_run_version"])
    ids = list(versions)
    states = run_states(conn, ids)
    submitted = latest_submitted_versions(conn, ids)
    live = [i for i in ids if states.get(i) in LIVE_STATES and submitted.get(i) == versions[i] + 1]
    touch_heartbeats(conn, live, clock.now_text())
    if polls is not None and live:
        def record_polls(_db: Any) -> None:
            for run_id in live:
                polls.saw(run_id)

        after_commit(conn, record_polls)
    return live
