"""`GET /stats`: the request counters (tests and benchmarks count API calls with them)."""
from typing import Any, Optional

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..metrics import Observed
from .guard import Handler
from .request_stats import RequestStats


def stats_route(stats: RequestStats, watch: Optional[Any]) -> Handler:
    """The `/stats` handler; with `watch` (the `/watch` handler), also what watches cost."""

    async def stats_endpoint(_request: Request, _seen: Observed) -> Response:
        snapshot = stats.snapshot()
        if watch is not None:
            snapshot["watch"] = watch.counters.snapshot()
        return JSONResponse(snapshot)

    return stats_endpoint
