"""Restart finished-unsuccessful runs in place, and tell whether a task runs again.

A restart works as Prefect's UI restarts a flow run, with the standard API only, so it
works against any Prefect 1 backend: the run's unsuccessful task runs (Failed, TimedOut,
TriggerFailed, Cancelled, and Running ones left by a dead process) go back to Pending,
successful ones keep their states and results (unless a rerun task needs a value that was
never persisted: see `tasks_flowrun.reruns`), and the run is Scheduled to start now. The
run keeps its id, so whoever holds the id (a parent's `wait_for_flow_run`, a user) follows
the rerun, and a key never has more than one run.
"""
import threading
from typing import Any, Dict, List, Mapping, Optional

import pendulum
import prefect
from prefect.engine import state as states

from ..reruns import task_runs_to_rerun
from . import queries

# Task run states a restart puts back to Pending (subclasses included: TimedOut,
# TriggerFailed, ValidationFailed, Cancelling).
_RERUN_TASK_STATES = (states.Failed, states.Cancelled, states.Running)
# Flow run states a restart applies to.
_RESTARTABLE = (states.Failed, states.Cancelled)


def _state_class(name: Optional[str]) -> Optional[type]:
    cls = getattr(states, str(name), None)
    return cls if isinstance(cls, type) and issubclass(cls, states.State) else None


def _must_rerun(task_run: Mapping[str, Any]) -> bool:
    cls = _state_class(task_run.get("state"))
    return cls is not None and issubclass(cls, _RERUN_TASK_STATES)


def needs_restart(state_name: Optional[str]) -> bool:
    """
    Whether a flow run in this state ended without success and can be restarted (Failed,
    TimedOut, TriggerFailed, Cancelled...).

    Args:
        - state_name (str): the name of the run's state, e.g. `"Failed"`

    Returns:
        - bool: `True` for finished, unsuccessful states
    """
    cls = _state_class(state_name)
    return cls is not None and issubclass(cls, _RESTARTABLE)


def restart_flow_run(client: "prefect.Client", flow_run_id: str, reason: str) -> bool:
    """
    Restart a finished, unsuccessful flow run in place (see the module docstring).

    Args:
        - client (prefect.Client): the client
        - flow_run_id (str): the run to restart
        - reason (str): why, recorded in the new states' messages

    Returns:
        - bool: `True` if the run was restarted, `False` if it was not (or no longer) in
            a restartable state (then it is left as it is)
    """
    rows = (client.graphql(queries.RUN_FOR_RESTART, variables={"id": flow_run_id}).get("data") or {}).get("flow_run")
    if not rows or not needs_restart(rows[0].get("state")):
        return False
    run = rows[0]
    edges = [(e["upstream_task_id"], e["downstream_task_id"]) for e in (run.get("flow") or {}).get("edges") or []]
    rerun = task_runs_to_rerun(run.get("task_runs") or [], edges, _must_rerun)
    pending = states.Pending(reason).serialize()
    task_states: List[Dict[str, Any]] = [{"task_run_id": task_run_id, "state": pending} for task_run_id in sorted(rerun)]
    if task_states:
        client.graphql(queries.SET_TASK_RUN_STATES, variables={"input": {"states": task_states}})
    scheduled = states.Scheduled(reason, start_time=pendulum.now("UTC")).serialize()
    flow_state = {"flow_run_id": flow_run_id, "version": run.get("version"), "state": scheduled}
    client.graphql(queries.SET_FLOW_RUN_STATES, variables={"input": {"states": [flow_state]}})
    return True


class RerunDetector:
    """
    Whether the current task run may meet children made by an earlier run of itself: a
    task retry (`task_run_count > 1`), or a parent flow run that has been Running before
    (restarted by hand, or rescheduled after its process died). The parent's history is
    read once per parent flow run and process (one request), so a fan-out pays it once.
    """

    def __init__(self) -> None:
        self._known: Dict[str, bool] = {}
        self._lock = threading.Lock()

    def is_rerun(self, client: "prefect.Client", ctx: Optional[Any] = None) -> bool:
        """
        Args:
            - client (prefect.Client): the client
            - ctx (Mapping, optional): the Prefect context; defaults to `prefect.context`

        Returns:
            - bool: `True` on a task retry or in a parent that has run before
        """
        ctx = prefect.context if ctx is None else ctx
        if (ctx.get("task_run_count") or 1) > 1:
            return True
        flow_run_id = ctx.get("flow_run_id")
        if not flow_run_id or not ctx.get("running_with_backend"):
            return False
        with self._lock:  # one request per parent run, also with many threads mapping
            if flow_run_id not in self._known:
                if len(self._known) > 10_000:
                    self._known.clear()
                self._known[flow_run_id] = self._has_run_before(client, flow_run_id)
            return self._known[flow_run_id]

    @staticmethod
    def _has_run_before(client: "prefect.Client", flow_run_id: str) -> bool:
        result = client.graphql(queries.RUNNING_STATES, variables={"id": flow_run_id})
        return len((result.get("data") or {}).get("flow_run_state") or []) > 1


RERUNS = RerunDetector()
