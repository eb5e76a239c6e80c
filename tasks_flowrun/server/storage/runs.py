"""Queries specific to runs: the agent queue, the Submitted lock, idempotency look-ups, deletion."""
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sqlalchemy.engine import Connection

from .rows import _cursor, _decode, delete_rows, fetch_rows

# A child's parent, as the plugin records it in the child's context; indexed (database.py).
PARENT_EXPRESSION = "json_extract(context, '$.parent_flow_run_id')"


def run_id_for_key(conn: Connection, flow_group_id: str, idempotency_key: str) -> Optional[str]:
    """The flow run created with this idempotency key for this flow group, if any."""
    cursor = _cursor(conn)
    cursor.execute("SELECT id FROM flow_run WHERE flow_group_id = ? AND idempotency_key = ?",
                   (flow_group_id, idempotency_key))
    row = cursor.fetchone()
    return row[0] if row else None


def queue(conn: Connection, states: Sequence[str], before: str, tenant_id: Optional[str],
          labels: Sequence[str], limit: int) -> List[str]:
    """Ids of runs an agent with `labels` may take, oldest due first.

    A run is due when its state is queue-eligible with `state_start_time <= before`, or when it
    is Running with such a task run. Its labels must be a subset of the agent's; an agent with
    labels never takes unlabelled runs. Labels are matched in SQL so that runs waiting for other
    agents can never crowd this agent's runs out of the answer.
    """
    marks = ", ".join("?" * len(states))
    sql = (
        "SELECT id FROM flow_run WHERE ("
        f"(state IN ({marks}) AND state_start_time <= ?) OR (state = 'Running' AND EXISTS ("
        f"SELECT 1 FROM task_run WHERE task_run.flow_run_id = flow_run.id AND task_run.state IN ({marks}) "
        "AND task_run.state_start_time <= ?)))"
    )
    params: List[Any] = [*states, before, *states, before]
    if tenant_id:
        sql += " AND tenant_id = ?"
        params.append(tenant_id)
    labels = sorted(set(labels))
    # Labels that are not valid JSON (written by another tool) read as NULL: such a run is
    # taken by no agent, and never makes the whole poll fail for the other runs.
    valid = "(CASE WHEN json_valid(flow_run.labels) THEN flow_run.labels END)"
    if labels:
        sql += (f" AND json_array_length({valid}) > 0 AND NOT EXISTS (SELECT 1 FROM json_each({valid}) "
                f"WHERE json_each.value NOT IN ({', '.join('?' * len(labels))}))")
        params.extend(labels)
    else:
        sql += f" AND (flow_run.labels IS NULL OR json_array_length({valid}) = 0)"
    sql += " ORDER BY state_start_time, id LIMIT ?"
    params.append(int(limit))
    cursor = _cursor(conn)
    cursor.execute(sql, params)
    return [row[0] for row in cursor.fetchall()]


def delete_flow_run_rows(conn: Connection, flow_run_id: str) -> bool:
    """Delete a flow run with its states, task runs (and their states) and logs."""
    task_run_ids = [r["id"] for r in fetch_rows(conn, "task_run", ["id"], flow_run_id=flow_run_id)]
    delete_rows(conn, "task_run_state", "task_run_id", task_run_ids)
    for table in ("task_run", "flow_run_state", "log"):
        delete_rows(conn, table, "flow_run_id", [flow_run_id])
    return delete_rows(conn, "flow_run", "id", [flow_run_id]) > 0


def child_runs(conn: Connection, parent_flow_run_id: str) -> List[Dict[str, Any]]:
    """Runs whose context names `parent_flow_run_id` as their parent (id, name, state, context)."""
    cursor = _cursor(conn)
    cursor.execute(
        f"SELECT id, name, state, context FROM flow_run WHERE {PARENT_EXPRESSION} = ? ORDER BY created, id",
        (parent_flow_run_id,),
    )
    return [_decode("flow_run", ("id", "name", "state", "context"), row) for row in cursor.fetchall()]


def active_runs(conn: Connection, states: Sequence[str]) -> List[Dict[str, Any]]:
    """Runs in `states` with what the recovery sweep judges them by, oldest change first."""
    columns = ("id", "name", "tenant_id", "flow_id", "flow_group_id", "state", "state_timestamp", "heartbeat",
               "times_resurrected")
    marks = ", ".join("?" * len(states))
    cursor = _cursor(conn)
    cursor.execute(f"SELECT {', '.join(columns)} FROM flow_run WHERE state IN ({marks}) ORDER BY state_timestamp",
                   tuple(states))
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def retry_count(conn: Connection, task_run_id: str) -> int:
    """How many Retrying states the task run has had."""
    cursor = _cursor(conn)
    cursor.execute("SELECT COUNT(*) FROM task_run_state WHERE task_run_id = ? AND state = 'Retrying'",
                   (task_run_id,))
    return int(cursor.fetchone()[0])


def mapped_children_summary(conn: Connection, flow_run_id: str, task_id: str) -> List[Tuple[str, int, Any, Any]]:
    """(state, count, earliest start_time, latest end_time) of the mapped children
    (map_index >= 0) of one task in one flow run, per state."""
    cursor = _cursor(conn)
    cursor.execute("SELECT state, COUNT(*), MIN(start_time), MAX(end_time) FROM task_run "
                   "WHERE flow_run_id = ? AND task_id = ? AND map_index >= 0 GROUP BY state",
                   (flow_run_id, task_id))
    return [tuple(row) for row in cursor.fetchall()]
