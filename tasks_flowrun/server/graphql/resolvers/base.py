"""The shape every mutation resolver shares: decode input, one write transaction, shape the result."""
import functools
import sqlite3
from typing import Any, Callable, Dict

from sqlalchemy import exc as sa_exc

from ...api.errors import ApiError
from ...storage.rows import ConstraintError, interruptible
from ..errors import UserError


def field_name(resolver: Callable[..., Any]) -> str:
    """The GraphQL field a resolver answers: its name, less a `_mutation` suffix (which keeps
    it apart from the domain function of the same name, e.g. `api.flow_runs.create_flow_run`)."""
    return resolver.__name__.removesuffix("_mutation")


def mutation(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn(conn, ctx, input)` inside one durable write transaction.

    A refused request (ApiError, a constraint the database enforces) or a spent time budget
    rolls the transaction back, so nothing is half-written, and reaches the caller as a
    GraphQL error with a readable message.
    """

    @functools.wraps(fn)
    def resolve(_root: Any, info: Any, input: Dict[str, Any]) -> Any:
        ctx = info.context
        ctx.budget.check()
        try:
            with ctx.db.write() as conn:
                with interruptible(conn, ctx.budget.stopped):
                    return fn(conn, ctx, input)
        except ApiError as exc:
            raise UserError(str(exc), exc.code) from None
        except ConstraintError as exc:
            raise UserError(str(exc), "CONSTRAINT_VIOLATION") from None
        except (sqlite3.OperationalError, sa_exc.OperationalError):
            ctx.budget.check()  # interrupted because the budget is spent: say so
            raise

    return resolve
