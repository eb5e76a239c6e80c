"""Reads behind `POST /watch`: the rows of the runs that changed (what a waiter acts on
without a second request), their versions for a waiter's periodic check, and when runs in a
queue state fall due (agents' pushed pick-up). Each read touches only the runs asked for."""
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .rows import tolerant
from .tables import flow_run, flow_run_state, log

CHUNK = 500  # ids per `IN (...)` list, well under SQLite's bound-parameter limit
RUN_COLUMNS = ("id", "name", "version", "state", "serialized_state", "state_timestamp", "flow_id", "labels",
               "parameters", "context", "run_config", "updated")
LOG_COLUMNS = ("id", "timestamp", "created", "level", "message")


def _chunks(ids: Sequence[str]) -> List[List[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[start:start + CHUNK] for start in range(0, len(unique), CHUNK)]


def _rows(conn: Connection, query: Any) -> List[Dict[str, Any]]:
    return tolerant(conn, lambda: [dict(row._mapping) for row in conn.execute(query)])


def run_rows(conn: Connection, ids: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """id -> the run's row (`RUN_COLUMNS`, JSON decoded); deleted (or unknown) ids are absent."""
    found: Dict[str, Dict[str, Any]] = {}
    for chunk in _chunks(ids):
        query = sa.select(*(flow_run.c[name] for name in RUN_COLUMNS)).where(flow_run.c.id.in_(chunk))
        found.update((row["id"], row) for row in _rows(conn, query))
    return found


def state_histories(conn: Connection, ids: Sequence[str]) -> Dict[str, List[Dict[str, Any]]]:
    """run id -> its states, oldest first, as `{timestamp, serialized_state}`."""
    found: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    for chunk in _chunks(ids):
        query = (sa.select(flow_run_state.c.flow_run_id, flow_run_state.c.timestamp,
                           flow_run_state.c.serialized_state)
                 .where(flow_run_state.c.flow_run_id.in_(chunk))
                 .order_by(flow_run_state.c.flow_run_id, flow_run_state.c.timestamp, flow_run_state.c.id))
        for row in _rows(conn, query):
            found[row["flow_run_id"]].append({"timestamp": row["timestamp"], "serialized_state": row["serialized_state"]})
    return found


def run_logs(conn: Connection, ids: Sequence[str], created_after: Optional[str], tail: int
             ) -> Dict[str, List[Dict[str, Any]]]:
    """run id -> its log lines stored after `created_after` (server time), or without it its
    newest `tail` lines; each list in the order of the lines' own timestamps."""
    found: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    columns = [log.c.flow_run_id, *(log.c[name] for name in LOG_COLUMNS)]
    for chunk in _chunks(ids):
        if created_after is not None:
            query = (sa.select(*columns).where(log.c.flow_run_id.in_(chunk), log.c.created > created_after)
                     .order_by(log.c.flow_run_id, log.c.timestamp, log.c.created, log.c.id))
        else:
            rank = sa.func.row_number().over(partition_by=log.c.flow_run_id,
                                             order_by=(log.c.timestamp.desc(), log.c.id.desc())).label("_rank")
            ranked = sa.select(*columns, rank).where(log.c.flow_run_id.in_(chunk)).subquery()
            query = (sa.select(*(ranked.c[c.name] for c in columns)).where(ranked.c._rank <= int(tail))
                     .order_by(ranked.c.flow_run_id, ranked.c.timestamp, ranked.c.created, ranked.c.id))
        for row in _rows(conn, query):
            found[row.pop("flow_run_id")].append(row)
    return found


def run_versions(conn: Connection, ids: Sequence[str]) -> Dict[str, int]:
    """id -> version of the runs that exist."""
    found: Dict[str, int] = {}
    for chunk in _chunks(ids):
        query = sa.select(flow_run.c.id, flow_run.c.version).where(flow_run.c.id.in_(chunk))
        found.update((row_id, version) for row_id, version in conn.execute(query))
    return found


def due_between(conn: Connection, states: Sequence[str], after: str, until: str) -> bool:
    """Whether a run in one of the queue `states` falls due in (`after`, `until`]."""
    query = (sa.select(flow_run.c.id)
             .where(flow_run.c.state.in_(list(states)), flow_run.c.state_start_time > after,
                    flow_run.c.state_start_time <= until)
             .limit(1))
    return conn.execute(query).first() is not None


def next_due(conn: Connection, states: Sequence[str], after: str) -> Optional[str]:
    """The soonest start time after `after` of a run in one of the queue `states`."""
    query = sa.select(sa.func.min(flow_run.c.state_start_time)).where(
        flow_run.c.state.in_(list(states)), flow_run.c.state_start_time > after)
    return conn.execute(query).scalar()
