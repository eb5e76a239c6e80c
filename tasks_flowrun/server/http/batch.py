"""Batched GraphQL over HTTP (what apollo-link-batch-http sends): a JSON array of operations
in one POST, answered with an array of results in the same order.

Each operation runs on its own and has its own result (one that fails to parse, validate or
run gets its own `errors`, the others are unaffected); a batch holding something that is not
an operation at all is malformed as a whole, as a single malformed body is. The batch as a whole is held to the request's limits: the body
size and time budget as for one operation, at most `MAX_OPERATIONS` operations, and the SUM
of its operations' costs (fields and estimated rows) against the cost limits, so splitting a
costly query into many small ones gains nothing.
"""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from graphql import GraphQLSchema
from graphql.language import DocumentNode

from ..graphql.cost import CostLimits, check_cost

MAX_OPERATIONS = 50  # the Prefect UI batches at most 25


class BatchRefused(Exception):
    """The batch cannot run at all (empty, or too many operations)."""


def decode_batch(items: List[Any], decode: Callable[[Any], Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The operations of a batch; `decode` turns one JSON value into an operation body or
    raises ValueError, which names the operation and refuses the batch."""
    if not items:
        raise BatchRefused("Empty batch: send at least one operation.")
    if len(items) > MAX_OPERATIONS:
        raise BatchRefused(f"Too many operations in one batch: {len(items):,} > limit {MAX_OPERATIONS}; "
                           "split the batch.")
    decoded = []
    for number, item in enumerate(items, 1):
        try:
            decoded.append(decode(item))
        except ValueError as exc:
            raise ValueError(f"operation {number} of the batch: {exc}") from None
    return decoded


def cost_refusal(schema: GraphQLSchema, limits: CostLimits,
                 operations: Sequence[Tuple[DocumentNode, Dict[str, Any]]]) -> Optional[str]:
    """Why the batch's operations (each already within the limits) are too costly together, or None."""
    fields = rows = 0
    for document, body in operations:
        cost = check_cost(schema, document, body.get("variables"), body.get("operationName"), limits)
        fields += cost.fields
        rows += cost.rows
    n = len(operations)
    if fields > limits.max_fields:
        return (f"Batch too costly: its {n} operations select {fields:,} fields in all > limit "
                f"{limits.max_fields:,}; send fewer operations per request.")
    if rows > limits.max_rows:
        return (f"Batch too costly: its {n} operations estimate {rows:,} rows in all > limit "
                f"{limits.max_rows:,}; add `limit` arguments or send fewer operations per request.")
    return None
