"""What a GraphQL request would cost, estimated from its document before anything runs.

Three measures, on the operation that would run, with every fragment (inline or named)
expanded in place and every alias counted as its own field:

- depth: how deeply selections nest;
- fields: how many field selections there are;
- rows: how many rows the lists would fetch. A list field (or an aggregate field such as
  `flows_aggregate`) multiplies the rows of its parent by its `limit` argument when given
  (a literal or a variable), else by `DEFAULT_LIST_ROWS`; nested lists multiply. Every list
  and object field adds its rows.

The walk stops at the first limit exceeded, so refusing a hostile document (10,000
aliases, fragments spread into each other exponentially) costs at most `max_fields` steps.
It runs before validation (whose overlap check is quadratic in the number of fields), so it
tolerates unknown fields and fragments, which validation reports afterwards; fragment
cycles are refused here.
"""
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Set

from graphql import GraphQLSchema
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from graphql.type import GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type

DEFAULT_LIST_ROWS = 100  # rows assumed for a list without a `limit`


@dataclass(frozen=True)
class CostLimits:
    max_depth: int = 12
    max_fields: int = 1_000
    max_rows: int = 200_000


@dataclass(frozen=True)
class Cost:
    """What a document was measured at (summed over the operations checked)."""
    depth: int = 0
    fields: int = 0
    rows: int = 0


class TooCostly(Exception):
    """A document over one of the limits; the message names the limit and both values."""


def _fmt(n: int) -> str:
    return f"{n:,}"


class _Walk:
    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Mapping[str, Any], limits: CostLimits) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limits = limits
        self.fields = 0
        self.rows = 0
        self.depth = 0

    def _limit_arg(self, node: FieldNode) -> Optional[int]:
        for arg in node.arguments or ():
            if arg.name.value != "limit":
                continue
            value = arg.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 0)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                if isinstance(given, int) and not isinstance(given, bool):
                    return max(given, 0)
        return None

    def selection_set(self, selection_set: Optional[SelectionSetNode], parent: Any, rows: int, depth: int,
                      spreading: Set[str]) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, rows, depth, spreading)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self.schema.get_type(selection.type_condition.name.value) or parent
                self.selection_set(selection.selection_set, target, rows, depth, spreading)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in spreading:
                    raise TooCostly(f"Fragment {name!r} spreads itself (a cycle); the query cannot run.")
                fragment = self.fragments.get(name)
                if fragment is None:
                    continue  # validation names the unknown fragment
                target = self.schema.get_type(fragment.type_condition.name.value) or parent
                self.selection_set(fragment.selection_set, target, rows, depth, spreading | {name})

    def field(self, node: FieldNode, parent: Any, rows: int, depth: int, spreading: Set[str]) -> None:
        self.fields += 1
        if self.fields > self.limits.max_fields:
            raise TooCostly(f"Query too costly: more field selections than the limit of "
                            f"{_fmt(self.limits.max_fields)} (aliases and expanded fragments counted); "
                            "select fewer fields.")
        if depth > self.depth:
            self.depth = depth
            if depth > self.limits.max_depth:
                raise TooCostly(f"Query too costly: nested {depth} levels deep (fragments expanded) > "
                                f"limit {self.limits.max_depth}; select fewer nested fields.")
        definition = None
        if isinstance(parent, GraphQLObjectType):
            definition = parent.fields.get(node.name.value)
        if definition is None or node.selection_set is None:
            return
        field_type = definition.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        named = get_named_type(definition.type)
        if _is_aggregate(named) or (isinstance(field_type, GraphQLList) and not _is_aggregate(parent)):
            # an aggregate holds the rows of its arguments; its `nodes` list adds no factor
            limit = self._limit_arg(node)
            rows *= DEFAULT_LIST_ROWS if limit is None else limit
        self.rows += rows
        if self.rows > self.limits.max_rows:
            raise TooCostly(f"Query too costly: estimated {_fmt(self.rows)} rows > limit "
                            f"{_fmt(self.limits.max_rows)}; add `limit` arguments or select fewer nested lists.")
        self.selection_set(node.selection_set, named, rows, depth + 1, spreading)


def _is_aggregate(graphql_type: Any) -> bool:
    """`<table>_aggregate`: the rows its list arguments select, aggregated and/or as `nodes`."""
    return isinstance(graphql_type, GraphQLObjectType) and "nodes" in graphql_type.fields


def _operation(document: DocumentNode, operation_name: Optional[str]) -> Optional[OperationDefinitionNode]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        return next((o for o in operations if o.name and o.name.value == operation_name), None)
    return operations[0] if len(operations) == 1 else None


def check_cost(schema: GraphQLSchema, document: DocumentNode, variables: Optional[Dict[str, Any]],
               operation_name: Optional[str], limits: CostLimits) -> Cost:
    """Raise TooCostly if the operation that would run exceeds `limits`; else its cost.

    When no single operation is chosen (several without a name), every one is checked.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    chosen = _operation(document, operation_name)
    operations = [chosen] if chosen is not None else [
        d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    total = Cost()
    for operation in operations:
        root = {OperationType.QUERY: schema.query_type, OperationType.MUTATION: schema.mutation_type,
                OperationType.SUBSCRIPTION: schema.subscription_type}.get(operation.operation)
        walk = _Walk(schema, fragments, variables or {}, limits)
        walk.selection_set(operation.selection_set, root, 1, 1, set())
        total = Cost(max(total.depth, walk.depth), total.fields + walk.fields, total.rows + walk.rows)
    return total
