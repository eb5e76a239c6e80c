"""Find the child flow to run: by flow id, by flow group id, or by name (+ project).

One request per look-up, whatever the identifier: a `flow_id` that turns out to be a flow
group id is matched in the same query (`_or`), and the tenant slugs needed to build the
run's URL come back in the same response. Only small scalar fields are selected.

Given the idempotency key, the same request also finds a run already created with that key
for the same flow group (any version). A retry or restart then re-attaches to it without a
create request, whatever the backend's idempotency scope, even if the child flow was
re-registered (and the version first used archived) in between.
"""
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional

import prefect

from .. import prefect_private
from . import queries
from .errors import AmbiguousFlowError, ArchivedFlowError, FlowNotFoundError


@dataclass(frozen=True)
class ChildFlow:
    """
    The flow a child run is created for.

    Args:
        - flow_id (str): the id of the flow version found
        - name (str): the flow's name
        - version (int): the flow's version
        - flow_group_id (str): its flow group
        - version_group_id (str): its version group (the backend's stable handle)
        - project_name (str): its project
        - pinned (bool): whether the caller named this exact version (by flow id);
            otherwise the newest unarchived version of the group is meant
        - tenant_slug (str, optional): the tenant's slug, for the run URL
        - existing_run_id (str, optional): a run of this flow group already created with
            the idempotency key given to the look-up
        - archived (bool): whether the version found is archived (only returned to
            re-attach to `existing_run_id`)
        - existing_run_state (str, optional): the state of `existing_run_id`
    """

    flow_id: str
    name: str
    version: Optional[int]
    flow_group_id: Optional[str]
    version_group_id: Optional[str]
    project_name: Optional[str]
    pinned: bool
    tenant_slug: Optional[str] = None
    existing_run_id: Optional[str] = None
    archived: bool = False
    existing_run_state: Optional[str] = None


def find_child_flow(
    client: "prefect.Client",
    flow_id: Optional[str] = None,
    flow_group_id: Optional[str] = None,
    flow_name: Optional[str] = None,
    project_name: Optional[str] = None,
    idempotency_key: Optional[str] = None,
) -> ChildFlow:
    """
    Look up the child flow with one request. Exactly one identifier must be given
    (the caller validates that).

    Args:
        - client (prefect.Client): the client to send the query with
        - flow_id (str, optional): a flow id, or a flow group id
        - flow_group_id (str, optional): a flow group id
        - flow_name (str, optional): a flow name
        - project_name (str, optional): the project of `flow_name`
        - idempotency_key (str, optional): also look for a run of the flow group created
            with this key (then `existing_run_id` is set)

    Returns:
        - ChildFlow: the flow found

    Raises:
        - FlowNotFoundError: nothing matches
        - ArchivedFlowError: only archived versions match (and no run has the key)
        - AmbiguousFlowError: the name matches flows in several projects
    """
    if flow_id:
        where, what = queries.where_flow_or_group_id(flow_id), f"flow_id {flow_id!r}"
    elif flow_group_id:
        where, what = queries.where_flow_group_id(flow_group_id), f"flow_group_id {flow_group_id!r}"
    else:
        where = queries.where_flow_name(flow_name, project_name)  # type: ignore[arg-type]
        what = f"flow_name {flow_name!r}" + (f" in project {project_name!r}" if project_name else "")
    document = queries.flow_lookup(with_key=bool(idempotency_key))
    variables = queries.lookup_variables(where, idempotency_key)
    data = client.graphql(document, variables=variables).get("data") or {}
    rows: List[Dict[str, Any]] = list(data.get("flow") or [])
    slug = _tenant_slug(client, data.get("tenant") or [])
    keyed = {run.get("id"): (run.get("flow") or {}).get("flow_group_id") for run in data.get("flow_run") or []}
    run_states = {run.get("id"): run.get("state") for run in data.get("flow_run") or []}

    if flow_id:
        exact = [row for row in rows if row.get("id") == flow_id]
        if exact:
            row = exact[0]
            existing = _existing(keyed, row)
            if row.get("archived") and not existing:
                raise ArchivedFlowError(
                    f"Flow {flow_id!r} ({row.get('name')!r}, version {row.get('version')}) is archived. "
                    f"Pass flow_group_id={row.get('flow_group_id')!r} or flow_name={row.get('name')!r} "
                    "to run the newest version."
                )
            return _with_state(_child(row, pinned=True, slug=slug, existing=existing), run_states)
    return _with_state(_newest_of_one_group(rows, what, slug, keyed), run_states)


def _with_state(child: ChildFlow, run_states: Dict[str, Any]) -> ChildFlow:
    if not child.existing_run_id:
        return child
    return replace(child, existing_run_state=run_states.get(child.existing_run_id))


def _existing(keyed: Dict[str, Any], row: Dict[str, Any]) -> Optional[str]:
    """A run created with the key for the flow group of `row` (the smallest id if several)."""
    matches = sorted(run_id for run_id, group in keyed.items() if group == row.get("flow_group_id"))
    return matches[0] if matches else None


def _newest_of_one_group(
    rows: List[Dict[str, Any]], what: str, slug: Optional[str], keyed: Dict[str, Any]
) -> ChildFlow:
    if not rows:
        raise FlowNotFoundError(f"No flow found for {what}. Check the identifier, or register the flow first.")
    live = [row for row in rows if not row.get("archived")]
    if not live:
        for row in rows:  # a retry of a run created before every version got archived
            existing = _existing(keyed, row)
            if existing:
                return _child(row, pinned=False, slug=slug, existing=existing)
        raise ArchivedFlowError(
            f"Every version of the flow found for {what} is archived; register it again to run it."
        )
    groups: Dict[str, Dict[str, Any]] = {}
    for row in live:  # rows come newest version first
        groups.setdefault(str(row.get("flow_group_id") or row.get("id")), row)
    if len(groups) > 1:
        projects = sorted(_project(row) or "<no project>" for row in groups.values())
        raise AmbiguousFlowError(
            f"{what} matches {len(groups)} flows, in projects {', '.join(map(repr, projects))}. "
            "Pass `project_name` to choose one, or use `flow_group_id`."
        )
    row = next(iter(groups.values()))
    return _child(row, pinned=False, slug=slug, existing=_existing(keyed, row))


def _child(row: Dict[str, Any], pinned: bool, slug: Optional[str], existing: Optional[str]) -> ChildFlow:
    return ChildFlow(
        flow_id=row["id"],
        name=row.get("name") or "",
        version=row.get("version"),
        flow_group_id=row.get("flow_group_id"),
        version_group_id=row.get("version_group_id"),
        project_name=_project(row),
        pinned=pinned,
        tenant_slug=slug,
        existing_run_id=existing,
        archived=bool(row.get("archived")),
    )


def _project(row: Dict[str, Any]) -> Optional[str]:
    project = row.get("project") or {}
    return project.get("name")


def _tenant_slug(client: "prefect.Client", tenants: List[Dict[str, Any]]) -> Optional[str]:
    """The slug of the client's tenant, without the extra request `client.tenant_id` makes."""
    known = prefect_private.known_tenant_id(client)
    for tenant in tenants:
        if known and tenant.get("id") == known:
            return tenant.get("slug")
    # Prefect Server: the client's default tenant is the first one listed
    if not known and tenants and (prefect.config.backend == "server" or len(tenants) == 1):
        return tenants[0].get("slug")
    return None
