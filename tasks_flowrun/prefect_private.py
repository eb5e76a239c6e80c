"""Every private Prefect 1.4.1 API this package uses, in one place, each with why no public
way exists. The rest of the code calls through these names; a Prefect upgrade that changes
one of them breaks here, and only here.

It imports Prefect only (the tasks, the client and the agent all use it).
"""
from typing import Any, Callable, Dict, Iterable, List, Optional, Set

import prefect
from prefect.agent.local import LocalAgent
from prefect.backend import FlowRunView
from prefect.utilities.graphql import GraphQLResult


def flow_run_view(data: Dict[str, Any]) -> FlowRunView:
    """A `FlowRunView` from a flow run's fields already fetched (`FlowRunView._from_flow_run_data`).

    Private because: no public way builds views from data already fetched. The public
    constructor takes the private `_TimestampedState`, and `FlowRunView.from_flow_run_id`
    costs one request per run (a wait on many runs reads them all in one).
    """
    return FlowRunView._from_flow_run_data(data)


def known_tenant_id(client: "prefect.Client") -> Optional[str]:
    """The tenant id the client already knows, or None (`Client._tenant_id`).

    Private because: the public `Client.tenant_id` asks the backend when the client has
    none yet (a request, or an error on a backend that cannot tell), where the callers only
    want what is known (a cache key, a slug among tenants already read).
    """
    return getattr(client, "_tenant_id", None) or None


class LocalAgentLoop(LocalAgent):
    """`LocalAgent` with the private parts of `Agent`'s loop given names of ours.

    Private because: Prefect 1's `Agent` has no public hook for how often its loop looks for
    due runs, nor for which of the due runs it deploys; a subclass can only shadow these:

    - `_loop_intervals` (class attribute): the loop's back-off between looks, 0.25 s up to
      10 s; set to `safety_poll` (class attribute of the subclass) at every step;
    - `_get_ready_flow_runs`: the look-up of due runs; `looking_for_due_runs()` is called
      before it;
    - `_get_flow_run_metadata`: reads the runs the loop then deploys (and marks Submitted);
      `runs_to_deploy(flow_run_ids, read)` chooses them, `read` being Prefect's reader.
    """

    safety_poll: float = 10.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._loop_intervals = {index: cls.safety_poll for index in range(7)}

    def looking_for_due_runs(self) -> None:
        """Called just before the loop looks for due runs."""

    def runs_to_deploy(self, flow_run_ids: List[str],
                       read: Callable[[Iterable[str]], List[GraphQLResult]]) -> List[GraphQLResult]:
        """The runs among the due `flow_run_ids` to deploy now (default: all, as Prefect)."""
        return read(flow_run_ids)

    def _get_ready_flow_runs(self, prefetch_seconds: int = 10) -> Set[str]:
        self.looking_for_due_runs()
        return super()._get_ready_flow_runs(prefetch_seconds)

    def _get_flow_run_metadata(self, flow_run_ids: Iterable[str]) -> List[GraphQLResult]:
        return self.runs_to_deploy(list(flow_run_ids), super()._get_flow_run_metadata)
