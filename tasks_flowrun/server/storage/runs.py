"""Queries specific to runs: the agent queue, the Submitted lock, idempotency look-ups, deletion."""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..change_feed import DELETED
from .database import note_change
from .jsonsql import PARENT_KEY, key_text, labels_fit
from .rows import delete_rows, fetch_rows, insert_rows
from ..timestamps import clock
from .tables import deleted_flow_run, flow, flow_group, flow_run, flow_run_state, task_run, task_run_state

_RUN_FOR_KEY = sa.select(flow_run.c.id).where(flow_run.c.flow_group_id == sa.bindparam("group"),
                                              flow_run.c.idempotency_key == sa.bindparam("key"))


FLOW_FOR_RUN = ("id", "tenant_id", "flow_group_id", "archived", "parameters", "run_config", "environment")
GROUP_FOR_RUN = ("labels", "run_config", "default_parameters")
_FLOW_WITH_GROUP = (
    sa.select(*(flow.c[c] for c in FLOW_FOR_RUN), *(flow_group.c[c].label(f"group_{c}") for c in GROUP_FOR_RUN))
    .select_from(flow.outerjoin(flow_group, flow_group.c.id == flow.c.flow_group_id))
    .where(flow.c.id == sa.bindparam("flow_id"))
)


def flow_with_group(conn: Connection, flow_id: str) -> Optional[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """What a new run of this flow needs from the flow and from its group's settings, in one
    statement (a create runs it every time); None if there is no such flow."""
    row = conn.execute(_FLOW_WITH_GROUP, {"flow_id": flow_id}).first()
    if row is None:
        return None
    values = row._mapping
    return ({c: values[c] for c in FLOW_FOR_RUN}, {c: values[f"group_{c}"] for c in GROUP_FOR_RUN})


def run_id_for_key(conn: Connection, flow_group_id: str, idempotency_key: str) -> Optional[str]:
    """The flow run created with this idempotency key for this flow group, if any."""
    return conn.execute(_RUN_FOR_KEY, {"group": flow_group_id, "key": idempotency_key}).scalar()


def queue(conn: Connection, states: Sequence[str], before: str, tenant_id: Optional[str],
          labels: Sequence[str], limit: int) -> List[str]:
    """Ids of runs an agent with `labels` may take, oldest due first.

    A run is due when its state is queue-eligible with `state_start_time <= before`, or when it
    is Running with such a task run. Its labels must be a subset of the agent's; an agent with
    labels never takes unlabelled runs. Labels are matched in SQL so that runs waiting for other
    agents can never crowd this agent's runs out of the answer.
    """
    states = list(states)
    waiting_task = sa.exists().where(task_run.c.flow_run_id == flow_run.c.id, task_run.c.state.in_(states),
                                     task_run.c.state_start_time <= before)
    due = sa.or_(sa.and_(flow_run.c.state.in_(states), flow_run.c.state_start_time <= before),
                 sa.and_(flow_run.c.state == "Running", waiting_task))
    query = sa.select(flow_run.c.id).where(due, labels_fit(flow_run.c.labels, sorted(set(labels)), conn.dialect.name))
    if tenant_id:
        query = query.where(flow_run.c.tenant_id == tenant_id)
    query = query.order_by(flow_run.c.state_start_time, flow_run.c.id).limit(int(limit))
    return list(conn.execute(query).scalars())


def delete_flow_run_rows(conn: Connection, flow_run_id: str) -> bool:
    """Delete a flow run with its states, task runs (and their states) and logs; its id is
    kept in `deleted_flow_run`, and whoever waits on it hears of it (the change feed's
    DELETED)."""
    note_change(conn, flow_run_id, DELETED)
    task_run_ids = [r["id"] for r in fetch_rows(conn, "task_run", ["id"], flow_run_id=flow_run_id)]
    delete_rows(conn, "task_run_state", "task_run_id", task_run_ids)
    for table in ("task_run", "flow_run_state", "log"):
        delete_rows(conn, table, "flow_run_id", [flow_run_id])
    deleted = delete_rows(conn, "flow_run", "id", [flow_run_id]) > 0
    if deleted:
        insert_rows(conn, "deleted_flow_run", [{"id": flow_run_id, "deleted": clock.now_text()}],
                    conflict_target=("id",))
    return deleted


def was_deleted(conn: Connection, flow_run_id: str) -> bool:
    """Whether a flow run with this id existed and was deleted."""
    query = sa.select(deleted_flow_run.c.id).where(deleted_flow_run.c.id == flow_run_id)
    return conn.execute(query).first() is not None


def latest_submitted_versions(conn: Connection, flow_run_ids: Sequence[str]) -> Dict[str, int]:
    """For each flow run, the version of its latest Submitted state (runs never submitted
    are absent): which deployment of a run is the current one."""
    found: Dict[str, int] = {}
    ids = list(dict.fromkeys(flow_run_ids))
    for start in range(0, len(ids), 500):
        query = (sa.select(flow_run_state.c.flow_run_id, sa.func.max(flow_run_state.c.version))
                 .where(flow_run_state.c.flow_run_id.in_(ids[start:start + 500]),
                        flow_run_state.c.state == "Submitted")
                 .group_by(flow_run_state.c.flow_run_id))
        found.update({row[0]: int(row[1]) for row in conn.execute(query)})
    return found


def run_states(conn: Connection, flow_run_ids: Sequence[str]) -> Dict[str, str]:
    """The state name of each existing flow run among `flow_run_ids`."""
    found: Dict[str, str] = {}
    ids = list(flow_run_ids)
    for start in range(0, len(ids), 500):
        query = sa.select(flow_run.c.id, flow_run.c.state).where(flow_run.c.id.in_(ids[start:start + 500]))
        found.update({row[0]: row[1] for row in conn.execute(query)})
    return found


def touch_heartbeats(conn: Connection, flow_run_ids: Sequence[str], now: str) -> None:
    """Record a heartbeat at `now` for each of the flow runs."""
    ids = list(flow_run_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        conn.execute(sa.update(flow_run).where(flow_run.c.id.in_(chunk)).values(heartbeat=now, updated=now))


def bump_task_run_versions(conn: Connection, flow_run_id: str, final_states: Sequence[str],
                           exclude: Sequence[str], now: str) -> int:
    """Add one to the version of the flow run's task runs that are not in `final_states`,
    but those in `exclude`; returns how many changed."""
    query = (sa.update(task_run).where(task_run.c.flow_run_id == flow_run_id,
                                       sa.or_(task_run.c.state.is_(None), task_run.c.state.not_in(list(final_states))))
             .values(version=task_run.c.version + 1, updated=now))
    if exclude:
        query = query.where(task_run.c.id.not_in(list(exclude)))
    return conn.execute(query).rowcount


def child_runs(conn: Connection, parent_flow_run_id: str) -> List[Dict[str, Any]]:
    """Runs whose context names `parent_flow_run_id` as their parent (id, name, state, context)."""
    query = (sa.select(flow_run.c.id, flow_run.c.name, flow_run.c.state, flow_run.c.context)
             .where(key_text(flow_run.c.context, PARENT_KEY, conn.dialect.name) == parent_flow_run_id)
             .order_by(flow_run.c.created, flow_run.c.id))
    return [dict(row._mapping) for row in conn.execute(query)]


def active_runs(conn: Connection, states: Sequence[str]) -> List[Dict[str, Any]]:
    """Runs in `states` with what the recovery sweep judges them by, oldest change first."""
    columns = ("id", "name", "tenant_id", "flow_id", "flow_group_id", "state", "state_timestamp", "heartbeat",
               "times_resurrected")
    query = (sa.select(*(flow_run.c[c] for c in columns)).where(flow_run.c.state.in_(list(states)))
             .order_by(flow_run.c.state_timestamp))
    return [dict(row._mapping) for row in conn.execute(query)]


def retry_count(conn: Connection, task_run_id: str) -> int:
    """How many Retrying states the task run has had."""
    query = sa.select(sa.func.count()).where(task_run_state.c.task_run_id == task_run_id,
                                             task_run_state.c.state == "Retrying")
    return int(conn.execute(query).scalar() or 0)


def mapped_children_summary(conn: Connection, flow_run_id: str, task_id: str) -> List[Tuple[str, int, Any, Any]]:
    """(state, count, earliest start_time, latest end_time) of the mapped children
    (map_index >= 0) of one task in one flow run, per state."""
    query = (sa.select(task_run.c.state, sa.func.count(), sa.func.min(task_run.c.start_time),
                       sa.func.max(task_run.c.end_time))
             .where(task_run.c.flow_run_id == flow_run_id, task_run.c.task_id == task_id, task_run.c.map_index >= 0)
             .group_by(task_run.c.state))
    return [tuple(row) for row in conn.execute(query)]
