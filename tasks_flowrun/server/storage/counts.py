"""Counts for `GET /metrics`: flow runs by state, and the runs each agent has deployed that
are still alive (its slots in use)."""
from typing import Dict, List, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .tables import agent, flow_run

_BY_STATE = sa.select(flow_run.c.state, sa.func.count()).group_by(flow_run.c.state)


def flow_runs_by_state(conn: Connection) -> Dict[str, int]:
    """{state name: number of flow runs in it} (a run with no state yet counts as Pending)."""
    counts: Dict[str, int] = {}
    for state, count in conn.execute(_BY_STATE):
        counts[state or "Pending"] = counts.get(state or "Pending", 0) + count
    return counts


def runs_by_agent(conn: Connection, states: Sequence[str], seen_since: str) -> List[Tuple[str, str, int]]:
    """(agent id, agent name, runs in `states` it deployed) for every agent that deployed such a
    run or asked for work since `seen_since` (stored timestamp text); 0 for idle agents."""
    live = (sa.select(flow_run.c.agent_id, sa.func.count().label("runs"))
            .where(flow_run.c.agent_id.is_not(None), flow_run.c.state.in_(list(states)))
            .group_by(flow_run.c.agent_id).subquery())
    busy = sa.select(live.c.agent_id, agent.c.name, live.c.runs).select_from(
        live.outerjoin(agent, agent.c.id == live.c.agent_id))
    found = {str(agent_id): (str(agent_id), name or "", int(runs)) for agent_id, name, runs in conn.execute(busy)}
    recent = sa.select(agent.c.id, agent.c.name).where(agent.c.last_queried >= seen_since)
    for agent_id, name in conn.execute(recent):
        found.setdefault(str(agent_id), (str(agent_id), name or "", 0))
    return sorted(found.values(), key=lambda row: (row[1], row[0]))
