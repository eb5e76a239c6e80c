"""`GET /health`: 200 while the database answers (what a load balancer in front of several
server processes should check), else 503. Public: it tells nothing but that."""
import logging

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..metrics import Observed
from ..storage.database import Database
from .guard import Handler

logger = logging.getLogger("tasks_flowrun.server")
HEALTH_TIMEOUT = 5.0  # seconds the database may take to answer a health check


def health_route(db: Database) -> Handler:
    """The `/health` handler of `db`'s backend."""

    async def health(_request: Request, _seen: Observed) -> Response:
        try:
            with anyio.fail_after(HEALTH_TIMEOUT):
                await anyio.to_thread.run_sync(db.ping, abandon_on_cancel=True)
        except Exception as exc:  # unreachable, or too slow to answer
            logger.warning("Health check: the database does not answer: %s", exc)
            return JSONResponse({"status": "unavailable", "reason": "the database does not answer"}, status_code=503)
        return JSONResponse({"status": "ok", "store": db.store})

    return health
