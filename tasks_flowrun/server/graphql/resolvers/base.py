"""The shape every mutation resolver shares: decode input, one write transaction, shape the result."""
import functools
from typing import Any, Callable, Dict

from ...api.errors import ApiError
from ..errors import UserError


def mutation(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn(conn, ctx, input)` inside one durable write transaction.

    A refused request (ApiError) rolls the transaction back, so nothing is half-written,
    and reaches the caller as a GraphQL error with the domain message.
    """

    @functools.wraps(fn)
    def resolve(_root: Any, info: Any, input: Dict[str, Any]) -> Any:
        ctx = info.context
        try:
            with ctx.db.write() as conn:
                return fn(conn, ctx, input)
        except ApiError as exc:
            raise UserError(str(exc), exc.code) from None

    return resolve
