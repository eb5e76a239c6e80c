"""`GET /metrics`: the backend's figures in Prometheus' text format (see server/metrics.py)."""
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..metrics import Metrics, Observed
from .guard import Handler


def metrics_route(metrics: Metrics) -> Handler:
    """The `/metrics` handler of one backend's figures."""

    async def scrape(request: Request, _seen: Observed) -> Response:
        body, content_type = await run_in_threadpool(metrics.render, request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    return scrape
