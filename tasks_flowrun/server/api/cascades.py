"""Deletes that cascade from one concept to what it holds: a project with its flows (and
their runs). Above projects.py and flows.py, which both stay unaware of it."""
from sqlalchemy.engine import Connection

from ..storage.rows import delete_rows, fetch_row, fetch_rows
from .flows import delete_flow


def delete_project(conn: Connection, project_id: str) -> bool:
    """Delete a project with its flows and their runs (Prefect Server's cascade); False for
    an unknown project."""
    if fetch_row(conn, "project", id=str(project_id)) is None:
        return False
    for flow in fetch_rows(conn, "flow", ["id"], project_id=str(project_id)):
        delete_flow(conn, flow["id"])
    return delete_rows(conn, "project", "id", [str(project_id)]) > 0
