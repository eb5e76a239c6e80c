"""Resolve the child flow and create (or re-attach to) its run: one request per child in a fan-out.

- **Cache miss** (the first child of a fan-out): one look-up, which also finds a run already
  created with the idempotency key (then nothing is created: "re-attached"), then one
  create. The resolution is cached (`flow_cache`).
- **Cache hit** (the other children): only the create mutation. The backend's create is
  idempotent on the key (the embedded backend scopes keys per flow group, Prefect Server per
  version group when creating by `version_group_id`, as we do for children found by name or
  group), so a retry or restart still gets the first child back, also after the child flow
  was re-registered. Whether the run is new or the key's earlier run is not told by the
  answer, hence the outcome "created or re-attached".
- **Refused create on a hit**: the entry is dropped and a fresh look-up decides, exactly as
  on a miss: it re-attaches to a run made with the key (e.g. a pinned version archived
  since: the backend refuses to create for it, the look-up finds the run), or raises its
  clear error (unknown, archived, ambiguous), or creates with what it found if the flow
  changed. If the flow did not change, the backend's own refusal is raised (e.g. a missing
  parameter), so a cached entry never hides nor invents an error.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import prefect

from .errors import BackendRejectedError, ParentGoneError
from .flow_cache import FLOW_CACHE, CacheKey, FlowCache, cache_key
from .flow_runs import send_create_flow_run, flow_reference
from .flows import ChildFlow, find_child_flow

CREATED = "created"
RE_ATTACHED = "re-attached"
CREATED_OR_RE_ATTACHED = "created or re-attached"

Inputs = Callable[[ChildFlow], Dict[str, Any]]


@dataclass(frozen=True)
class ChildRun:
    """
    The outcome of `create_child_run`.

    Args:
        - child (ChildFlow): the flow the run belongs to
        - flow_run_id (str): the run's id
        - outcome (str): `CREATED`, `RE_ATTACHED` (a run already had the key), or
            `CREATED_OR_RE_ATTACHED` (an idempotent create whose answer does not say)
        - state (str, optional): with `RE_ATTACHED`, the state the run had when found
    """

    child: ChildFlow
    flow_run_id: str
    outcome: str
    state: Optional[str] = None


def create_child_run(
    client: "prefect.Client",
    inputs_for: Inputs,
    idempotency_key: Optional[str] = None,
    flow_id: Optional[str] = None,
    flow_group_id: Optional[str] = None,
    flow_name: Optional[str] = None,
    project_name: Optional[str] = None,
    cache: FlowCache = FLOW_CACHE,
    fresh: bool = False,
) -> ChildRun:
    """
    Create a run of the identified flow, or re-attach to the one made with the key: one
    request on a cache hit, at most two on a miss.

    Args:
        - client (prefect.Client): the client
        - inputs_for (Callable): the `create_flow_run_input` fields (see
            `flow_runs.send_create_flow_run`) for the flow found; must carry the
            `idempotency_key` the create is sent with
        - idempotency_key (str, optional): the key to look for in a look-up (`None`: the
            create gets a fresh key from `inputs_for`, so every call creates a run)
        - flow_id (str, optional): a flow id, or a flow group id
        - flow_group_id (str, optional): a flow group id
        - flow_name (str, optional): a flow name
        - project_name (str, optional): the project of `flow_name`
        - cache (FlowCache, optional): the look-up cache; defaults to the process's
        - fresh (bool, optional): look up even on a cache hit, so that a run already
            made with the key is found with its state (for retries and restarts)

    Returns:
        - ChildRun: the flow, the run id and what happened

    Raises:
        - FlowNotFoundError, AmbiguousFlowError, ArchivedFlowError: the look-up failed
        - ParentGoneError: the parent flow run is cancelled or was deleted (nothing created)
        - BackendRejectedError: the backend refused the run (e.g. missing parameter)
    """
    ident = {"flow_id": flow_id, "flow_group_id": flow_group_id, "flow_name": flow_name, "project_name": project_name}
    entry = cache_key(client, **ident)
    if fresh:
        return _from_look_up(client, inputs_for, idempotency_key, ident, entry, cache)
    cached = cache.get(entry)
    if cached is None:
        with cache.single_flight(entry):
            cached = cache.get(entry)  # filled by the thread we waited for?
            if cached is None:
                return _from_look_up(client, inputs_for, idempotency_key, ident, entry, cache)
    try:
        flow_run_id = send_create_flow_run(client, cached, inputs_for(cached))
    except ParentGoneError:
        raise  # about the parent, not the flow: a fresh look-up would change nothing
    except BackendRejectedError as exc:
        refused: BackendRejectedError = exc
    else:
        return ChildRun(cached, flow_run_id, CREATED_OR_RE_ATTACHED if idempotency_key else CREATED)
    cache.forget(entry)
    return _from_look_up(client, inputs_for, idempotency_key, ident, entry, cache, cached, refused)


def _from_look_up(
    client: "prefect.Client",
    inputs_for: Inputs,
    idempotency_key: Optional[str],
    ident: Dict[str, Optional[str]],
    entry: CacheKey,
    cache: FlowCache,
    stale: Optional[ChildFlow] = None,
    refused: Optional[BackendRejectedError] = None,
) -> ChildRun:
    """A fresh look-up (cached if it succeeds), then a create unless a run has the key."""
    child = find_child_flow(client, **ident, idempotency_key=idempotency_key)
    cache.put(entry, child)
    if child.existing_run_id:
        return ChildRun(child, child.existing_run_id, RE_ATTACHED, child.existing_run_state)
    if refused is not None and stale is not None and _same_target(stale, child):
        raise refused  # the flow did not change: the backend's refusal stands
    return ChildRun(child, send_create_flow_run(client, child, inputs_for(child)), CREATED)


def _same_target(a: ChildFlow, b: ChildFlow) -> bool:
    """Whether a create for `a` and one for `b` send the same flow reference (and run name)."""
    return (flow_reference(a), a.name) == (flow_reference(b), b.name)
