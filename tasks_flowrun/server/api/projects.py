"""Tenants and projects."""
from typing import Any, Dict, Optional

from sqlalchemy.engine import Connection

from ..storage.rows import fetch_row
from .errors import ApiError, NotFound, Uniqueness
from .records import insert, update

DEFAULT_TENANT = {"name": "default", "slug": "default"}


def ensure_default_tenant(conn: Connection) -> str:
    """The id of the first tenant, creating the `default` one on a new database."""
    row = fetch_row(conn, "tenant", ["id"])
    if row is not None:
        return row["id"]
    return insert(conn, "tenant", settings={}, **DEFAULT_TENANT)["id"]


def create_tenant(conn: Connection, name: str, slug: str) -> str:
    if not name or not slug:
        raise ApiError("A tenant needs a non-empty name and slug.")
    if fetch_row(conn, "tenant", slug=slug) is not None:
        raise Uniqueness()
    return insert(conn, "tenant", name=name, slug=slug, settings={})["id"]


def create_project(conn: Connection, tenant_id: str, name: str, description: Optional[str] = None) -> str:
    if not name or not name.strip():
        raise ApiError("A project needs a non-empty name.")
    if fetch_row(conn, "tenant", id=tenant_id) is None:
        raise NotFound(f"Tenant {tenant_id} not found.")
    if fetch_row(conn, "project", tenant_id=tenant_id, name=name) is not None:
        raise Uniqueness()
    return insert(conn, "project", tenant_id=tenant_id, name=name, description=description)["id"]


def set_project_name(conn: Connection, project_id: str, name: str) -> str:
    if not name or not name.strip():
        raise ApiError("A project needs a non-empty name.")
    project = _project_to_update(conn, project_id)
    other = fetch_row(conn, "project", tenant_id=project["tenant_id"], name=name)
    if other is not None and other["id"] != project["id"]:
        raise Uniqueness()
    update(conn, "project", project["id"], name=name)
    return project["id"]


def set_project_description(conn: Connection, project_id: str, description: Optional[str]) -> str:
    project = _project_to_update(conn, project_id)
    update(conn, "project", project["id"], description=description)
    return project["id"]


def _project_to_update(conn: Connection, project_id: str) -> Dict[str, Any]:
    """The project a setter updates; an unknown id answers Prefect Server's "Update failed"."""
    project = fetch_row(conn, "project", id=str(project_id))
    if project is None:
        raise NotFound(f"Update failed: project {project_id} not found.")
    return project


def get_project(conn: Connection, project_id: str) -> Dict[str, Any]:
    project = fetch_row(conn, "project", id=str(project_id))
    if project is None:
        raise NotFound(f"Project {project_id} not found: create it first (prefect create project NAME).")
    return project
