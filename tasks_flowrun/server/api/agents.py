"""Agents: registration and liveness (`last_queried`)."""
from typing import List, Optional

from sqlalchemy.engine import Connection

from ..storage.reads import select_rows
from ..storage.rows import delete_rows
from ..timestamps import clock
from .records import insert, update


def register_agent(conn: Connection, tenant_id: str, name: Optional[str], type: Optional[str],
                   labels: Optional[List[str]], core_version: Optional[str],
                   agent_config_id: Optional[str] = None) -> str:
    """The id of the agent with this identity, registering it if it is new."""
    labels = sorted(labels or [])
    for agent in select_rows(conn, "agent", {"tenant_id": {"_eq": tenant_id}, "name": {"_eq": name},
                                             "type": {"_eq": type}}):
        if agent["core_version"] == core_version and sorted(agent["labels"] or []) == labels:
            update(conn, "agent", agent["id"], last_queried=clock.now_text(), agent_config_id=agent_config_id)
            return agent["id"]
    return insert(conn, "agent", tenant_id=tenant_id, name=name, type=type, labels=labels,
                  core_version=core_version, agent_config_id=agent_config_id,
                  last_queried=clock.now_text())["id"]


def touch_agent(conn: Connection, agent_id: str) -> None:
    update(conn, "agent", str(agent_id), last_queried=clock.now_text())


def delete_agent(conn: Connection, agent_id: str) -> bool:
    """Forget an agent (as Prefect Server does, its runs keep their agent id); whether it existed."""
    return delete_rows(conn, "agent", "id", [str(agent_id)]) > 0
