"""Relationships between tables, named as in Prefect Server's Hasura metadata.

Each relation joins `source.<local>` to `target.<remote>`; an object relation yields at most
one row, an array relation any number. Filters on either kind mean "EXISTS a related row".
"""
from typing import Dict, NamedTuple


class Relation(NamedTuple):
    kind: str  # "object" or "array"
    target: str
    local: str
    remote: str


def _obj(target: str, local: str, remote: str = "id") -> Relation:
    return Relation("object", target, local, remote)


def _arr(target: str, remote: str, local: str = "id") -> Relation:
    return Relation("array", target, local, remote)


RELATIONS: Dict[str, Dict[str, Relation]] = {
    "tenant": {
        "projects": _arr("project", "tenant_id"),
        "flows": _arr("flow", "tenant_id"),
        "flow_groups": _arr("flow_group", "tenant_id"),
    },
    "project": {"flows": _arr("flow", "project_id"), "tenant": _obj("tenant", "tenant_id")},
    "flow_group": {"flows": _arr("flow", "flow_group_id"), "tenant": _obj("tenant", "tenant_id")},
    "flow": {
        "project": _obj("project", "project_id"),
        "flow_group": _obj("flow_group", "flow_group_id"),
        "tenant": _obj("tenant", "tenant_id"),
        "tasks": _arr("task", "flow_id"),
        "edges": _arr("edge", "flow_id"),
        "flow_runs": _arr("flow_run", "flow_id"),
    },
    "task": {
        "flow": _obj("flow", "flow_id"),
        "task_runs": _arr("task_run", "task_id"),
        "upstream_edges": _arr("edge", "downstream_task_id"),
        "downstream_edges": _arr("edge", "upstream_task_id"),
    },
    "edge": {
        "flow": _obj("flow", "flow_id"),
        "upstream_task": _obj("task", "upstream_task_id"),
        "downstream_task": _obj("task", "downstream_task_id"),
    },
    "flow_run": {
        "flow": _obj("flow", "flow_id"),
        "agent": _obj("agent", "agent_id"),
        "tenant": _obj("tenant", "tenant_id"),
        "task_runs": _arr("task_run", "flow_run_id"),
        "states": _arr("flow_run_state", "flow_run_id"),
        "logs": _arr("log", "flow_run_id"),
    },
    "task_run": {
        "task": _obj("task", "task_id"),
        "flow_run": _obj("flow_run", "flow_run_id"),
        "tenant": _obj("tenant", "tenant_id"),
        "states": _arr("task_run_state", "task_run_id"),
        "logs": _arr("log", "task_run_id"),
        "artifacts": _arr("task_run_artifact", "task_run_id"),
    },
    "flow_run_state": {"flow_run": _obj("flow_run", "flow_run_id")},
    "task_run_state": {"task_run": _obj("task_run", "task_run_id")},
    "log": {"flow_run": _obj("flow_run", "flow_run_id"), "task_run": _obj("task_run", "task_run_id")},
    "agent": {"flow_runs": _arr("flow_run", "agent_id")},
    "task_run_artifact": {"task_run": _obj("task_run", "task_run_id")},
}
