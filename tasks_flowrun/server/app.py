"""The ASGI application: `POST /` and `/graphql` (GraphQL), `GET /health`, `GET /stats`."""
import datetime as dt
import hmac
import json
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .api.projects import ensure_default_tenant
from .graphql.context import RequestContext
from .graphql.executor import GraphQLService, root_fields
from .graphql.schema import build
from .api.liveness import RunnerPolls
from .api.recovery import RecoveryPolicy
from .services.recovery import Recovery
from .services.periodic import PeriodicService
from .services.scheduler import Scheduler
from .settings import ServerSettings
from .stats import RequestStats
from .storage.database import Database

logger = logging.getLogger("tasks_flowrun.server")


def _error(message: str, status: int = 400, code: str = "BAD_REQUEST") -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status)


def _decode_body(raw: bytes) -> Dict[str, Any]:
    body = json.loads(raw or b"{}")
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise ValueError("expected a JSON object with a 'query' string")
    variables = body.get("variables")
    if isinstance(variables, str):  # Prefect's client sends variables as JSON text ("null" if none)
        variables = json.loads(variables)
    if variables is not None and not isinstance(variables, dict):
        raise ValueError("'variables' must be a JSON object")
    body["variables"] = variables
    return body


def _lifespan(db: Database, settings: ServerSettings, polls: RunnerPolls):
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        policy = RecoveryPolicy(dt.timedelta(seconds=settings.heartbeat_timeout), settings.max_resurrections)
        services: List[PeriodicService] = [Scheduler(db), Recovery(db, policy, polls)]
        for service in services:
            service.start()
        try:
            yield
        finally:
            for service in services:
                service.stop()
            db.dispose()

    return lifespan


def create_app(settings: ServerSettings) -> Starlette:
    """The embedded backend as an ASGI app, with its database opened (and created) at `settings.database`."""
    db = Database(settings.database)
    with db.write() as conn:
        tenant_id = ensure_default_tenant(conn)
    service = GraphQLService(build(), max_depth=settings.max_query_depth)
    stats = RequestStats()
    polls = RunnerPolls()  # flow processes polling their own run: proof they are alive

    def _authorized(request: Request) -> bool:
        if not settings.api_key:
            return True
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, f"Bearer {settings.api_key}".encode())

    def _execute(body: Dict[str, Any], headers: Dict[str, str]) -> JSONResponse:
        document, errors = service.prepare(body["query"])
        if document is None:
            stats.record([])
            return JSONResponse({"errors": errors}, status_code=400)
        stats.record(root_fields(document))
        with RequestContext(db, tenant_id, headers, polls) as context:
            result = service.run(document, body["variables"], body.get("operationName"), context)
        return JSONResponse(result)

    async def graphql_endpoint(request: Request) -> Response:
        if not _authorized(request):
            return _error("UNAUTHENTICATED: missing or wrong API key (send Authorization: Bearer <key>).",
                          status=200, code="UNAUTHENTICATED")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_request_bytes:
            return _error(f"Request body too large: the limit is {settings.max_request_bytes} bytes.", 413)
        raw = await request.body()
        if len(raw) > settings.max_request_bytes:
            return _error(f"Request body too large: the limit is {settings.max_request_bytes} bytes.", 413)
        try:
            body = _decode_body(raw)
        except ValueError as exc:
            return _error(f"Malformed request: {exc}.")
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await run_in_threadpool(_execute, body, headers)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def stats_endpoint(_request: Request) -> Response:
        return JSONResponse(stats.snapshot())

    app = Starlette(routes=[
        Route("/", graphql_endpoint, methods=["POST"]),
        Route("/graphql", graphql_endpoint, methods=["POST"]),
        Route("/graphql/", graphql_endpoint, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/stats", stats_endpoint, methods=["GET"]),
    ], lifespan=_lifespan(db, settings, polls))
    app.state.stats = stats
    app.state.db = db
    app.state.polls = polls
    app.state.settings = settings
    return app
