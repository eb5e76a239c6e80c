"""Every route of the backend, each behind the guard (guard.py) and, but the web page's,
counted in the metrics under its operation name."""
from dataclasses import dataclass
from typing import Awaitable, Callable, List, Optional

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..backend import Backend
from ..metrics import Handler, Observed
from ..web import web_routes
from .graphql_route import GraphQLRoute
from .guard import Guard, Policy
from .health import health_route
from .metrics_route import metrics_route
from .request_stats import RequestStats
from .stats_route import stats_route
from .watch_route import MAX_BODY as WATCH_MAX_BODY, watch_route
from .workers import Workers


@dataclass(frozen=True)
class Endpoint:
    paths: List[str]
    methods: List[str]
    handler: Handler
    policy: Policy
    operation: Optional[str]  # its name in the metrics (None: not counted)


Endpointish = Callable[[Request], Awaitable[Response]]  # what Starlette calls


def _plain(handler: Endpointish) -> Handler:
    """A Starlette endpoint (request -> response) as a guarded handler."""

    async def plain(request: Request, _seen: Observed) -> Response:
        return await handler(request)

    return plain


def endpoints(backend: Backend, stats: RequestStats, workers: Workers) -> List[Endpoint]:
    """What the backend serves, with what each route needs from the guard."""
    settings = backend.settings
    graphql = Endpoint(["/", "/graphql", "/graphql/"], ["POST"], GraphQLRoute(backend, stats, workers),
                       Policy(body_limit=settings.max_request_bytes, counted=True), "graphql")
    # held until a watched run changes: pushed changes for wait_for_flow_run (and due runs for agents)
    watch = watch_route(backend.db, stats) if settings.push_changes else None
    found = [
        graphql,
        Endpoint(["/health"], ["GET"], health_route(backend.db), Policy(public=True), "health"),
        Endpoint(["/stats"], ["GET"], stats_route(stats, watch), Policy(), "stats"),
        Endpoint(["/metrics"], ["GET"], metrics_route(backend.metrics), Policy(), "metrics"),
    ]
    if watch is not None:
        found.append(Endpoint(["/watch"], ["POST"], watch, Policy(body_limit=WATCH_MAX_BODY), "watch"))
    # the web page: GET / for browsers, /<slug>/flow-run/<id>, /ui/<asset>; its data comes
    # from the GraphQL API, behind the key
    for route in web_routes():
        found.append(Endpoint([route.path], sorted(route.methods or ()), _plain(route.endpoint), Policy(public=True),
                              None))
    return found


def build_routes(backend: Backend, guard: Guard, stats: RequestStats, workers: Workers) -> List[Route]:
    """The Starlette routes: every endpoint through `guard`, then the metrics."""
    routes: List[Route] = []
    for endpoint in endpoints(backend, stats, workers):
        guarded = guard.protect(endpoint.policy, endpoint.handler)
        if endpoint.operation is not None:
            served = backend.metrics.instrument(endpoint.operation, guarded)
        else:
            served = _unobserved(guarded)
        routes.extend(Route(path, served, methods=[m for m in endpoint.methods if m != "HEAD"])
                      for path in endpoint.paths)
    return routes


def _unobserved(handler: Handler) -> Endpointish:
    async def endpoint(request: Request) -> Response:
        return await handler(request, Observed())

    endpoint.guard_policy = getattr(handler, "guard_policy", None)  # type: ignore[attr-defined]
    return endpoint
