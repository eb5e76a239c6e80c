"""The demo's one polling query: the parent run and its children, in one request per tick."""
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pendulum

from ..tasks.keys import PARENT_FLOW_RUN_ID, PARENT_MAP_INDEX
from ..tasks.times import parse_timestamp

# Literals are JSON-encoded into the document (JSON strings and lists are GraphQL literals).
RUNS_QUERY = """
query {
  flow_run(where: {_or: [
    {id: {_eq: %(parent_id)s}},
    {flow_id: {_in: %(child_flow_ids)s}, scheduled_start_time: {_gte: %(since)s}}
  ]}) {
    id name flow_id state state_message start_time end_time context
    states { state timestamp }
  }
}
"""


@dataclass
class RunRow:
    """One flow run as the demo shows it."""

    id: str
    name: str
    flow_id: str
    state: Optional[str]
    message: Optional[str]
    start_time: Optional[pendulum.DateTime]
    end_time: Optional[pendulum.DateTime]
    context: Dict[str, Any] = field(default_factory=dict)
    history: List[Tuple[pendulum.DateTime, str]] = field(default_factory=list)  # oldest first

    @property
    def duration(self) -> Optional[float]:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    @property
    def parent_flow_run_id(self) -> Optional[str]:
        """The parent run recorded in the child's context by `CreateFlowRun`."""
        return self.context.get(PARENT_FLOW_RUN_ID)

    @property
    def map_index(self) -> Optional[int]:
        index = self.context.get(PARENT_MAP_INDEX)
        return index if isinstance(index, int) else None


def _time(value: Optional[str]) -> Optional[pendulum.DateTime]:
    return parse_timestamp(value) if value else None


def fetch_runs(
    client: Any, parent_id: str, child_flow_ids: Sequence[str], since: pendulum.DateTime
) -> List[RunRow]:
    """The parent run and the runs of the child flows scheduled since `since`."""
    document = RUNS_QUERY % {
        "parent_id": json.dumps(parent_id),
        "child_flow_ids": json.dumps(list(child_flow_ids)),
        "since": json.dumps(since.in_timezone("UTC").isoformat()),
    }
    result = client.graphql(document)
    rows = []
    for run in result["data"]["flow_run"]:
        rows.append(
            RunRow(
                id=run["id"],
                name=run["name"],
                flow_id=run["flow_id"],
                state=run["state"],
                message=run["state_message"],
                start_time=_time(run["start_time"]),
                end_time=_time(run["end_time"]),
                context=dict(run["context"] or {}),
                history=sorted((parse_timestamp(s["timestamp"]), s["state"]) for s in run["states"] or []),
            )
        )
    return rows


def split_family(rows: List[RunRow], parent_id: str) -> "tuple[Optional[RunRow], List[RunRow]]":
    """(the parent, its children in map-index order).

    Children are the runs whose context names our parent run (see `CreateFlowRun`).
    """
    parent = next((r for r in rows if r.id == parent_id), None)
    children = []
    for row in rows:
        if row.id == parent_id:
            continue
        if row.parent_flow_run_id == parent_id:
            children.append(row)
    children.sort(key=lambda r: (r.map_index if r.map_index is not None else 1 << 30, r.name))
    return parent, children
