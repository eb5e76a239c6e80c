"""Resolvers of `<table>_aggregate` and `<relation>_aggregate` fields.

An aggregate field resolves to an `AggregateSet`: the list arguments and, for a relation,
the parent's key plus the keys of all its siblings. Each function asked for (`count`,
`min`, ..., `nodes`) runs once for all siblings (grouped by key) and is cached on the set
the siblings share, so a nested aggregate costs one query per function per level.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...storage.hasura import FilterError
from ...storage.selection import Selection, aggregate_by_key, empty_aggregate, select_rows_by_key
from ..errors import UserError


@dataclass
class AggregateSet:
    table: str
    spec: Selection
    key_column: Optional[str] = None
    key: Any = None
    keys: Optional[Sequence[Any]] = None
    cache: Dict[Tuple[Any, ...], Dict[Any, Any]] = field(default_factory=dict)

    def fetch(self, info: Any, what: Tuple[Any, ...]) -> Any:
        """This set's share of `what` ("nodes" or an aggregate), loaded for all siblings once."""
        found = self.cache.get(what)
        if found is None:
            ctx = info.context
            ctx.budget.check()
            try:
                if what[0] == "nodes":
                    found = select_rows_by_key(ctx.conn, self.table, self.spec, self.key_column, self.keys)
                else:
                    found = aggregate_by_key(ctx.conn, self.table, self.spec, what[0], what[1] if len(what) > 1 else None,
                                             bool(what[2]) if len(what) > 2 else False, self.key_column, self.keys)
            except FilterError as exc:
                raise UserError(str(exc)) from None
            self.cache[what] = found
        return found.get(self.key)


def selection(where: Optional[Dict] = None, order_by: Any = None, distinct_on: Any = None,
              limit: Optional[int] = None, offset: Optional[int] = None) -> Selection:
    return Selection(where, order_by, distinct_on, limit, offset)


def root_aggregate(table: str) -> Callable:
    def resolve(_root: Any, info: Any, **args: Any) -> AggregateSet:
        info.context.budget.check()
        return AggregateSet(table, selection(**args))
    return resolve


def relation_aggregate(target: str, local: str, remote: str, batch: Callable) -> Callable:
    """`batch(row, info, load)` shares one value among a row's siblings (see tables.py)."""
    def resolve(row: Dict[str, Any], info: Any, **args: Any) -> AggregateSet:
        def load(siblings: List[Dict[str, Any]]) -> Dict[str, Any]:
            return {"keys": [r[local] for r in siblings if r.get(local) is not None], "cache": {}}

        shared = batch(row, info, load)
        return AggregateSet(target, selection(**args), remote, row.get(local), shared["keys"], shared["cache"])
    return resolve


def aggregate_fields(set_: AggregateSet, _info: Any) -> AggregateSet:
    return set_


def nodes(set_: AggregateSet, info: Any) -> List[Dict[str, Any]]:
    return info.context.remember(set_.fetch(info, ("nodes",)) or [])


def count(set_: AggregateSet, info: Any, columns: Optional[Sequence[str]] = None, distinct: bool = False) -> int:
    return set_.fetch(info, ("count", tuple(columns or ()), bool(distinct))) or 0


def function(name: str) -> Callable:
    def resolve(set_: AggregateSet, info: Any) -> Dict[str, Any]:
        return set_.fetch(info, (name,)) or empty_aggregate(set_.table, name)
    return resolve
