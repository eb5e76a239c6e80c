"""The ASGI application: `POST /` and `/graphql` (GraphQL), `GET /health`, `GET /stats`, `GET /metrics`.

Every answer is JSON, errors included. Before a request runs: the API key, the cross-site
rule (application/json or an allowed Origin), the concurrency bound, the body size (enforced
while reading) and strict JSON (no NaN/Infinity, no lone surrogates); while it runs, its
time budget, and its client still being connected. A JSON array of operations is a batch
(see batch.py); `--cors-origin` origins get CORS headers (see cors.py).
"""
import asyncio
import datetime as dt
import hmac
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Tuple, Union

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graphql.language import DocumentNode

from .api.cloud_hooks import set_link_base
from .api.projects import ensure_default_tenant
from .cors import CorsMiddleware
from .batch import BatchRefused, cost_refusal, decode_batch
from .graphql.budget import Budget
from .graphql.context import RequestContext
from .graphql.cost import CostLimits
from .graphql.executor import GraphQLService, only_unavailable, root_fields
from .graphql.schema import build
from .api.liveness import RunnerPolls
from .api.recovery import RecoveryPolicy
from .availability import Availability
from .services.availability import AvailabilityWatch
from .services.recovery import Recovery
from .services.periodic import PeriodicService
from .services.scheduler import Scheduler
from .metrics import Metrics, Observed
from .settings import ServerSettings
from .stats import RequestStats
from .storage.database import Database, open_database
from .storage.jsontext import has_lone_surrogate, loads_input
from .watch import watch_endpoint
from .web import same_origin_page, web_routes

logger = logging.getLogger("tasks_flowrun.server")
UNAVAILABLE_RETRY_AFTER = 2  # seconds a client waits before sending again a request the database could not serve
DISCONNECT_POLL = 0.5  # seconds between two checks that the client of a running request is still there


SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # a JSON escape of a UTF-16 surrogate
MUTATION = re.compile(r"^\s*mutation\b", re.MULTILINE)  # a document that (probably) writes
# Two threads overlap parsing with writing. More do not help even on PostgreSQL, which runs
# transactions side by side: they contend for one interpreter lock (measured: one process
# made 235-293 creates/s with 2 threads, 155-199/s with 8); more processes do help there.
WRITER_THREADS = {"sqlite": 2, "postgresql": 2}


def _json(content: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> Response:
    """A JSON response; an answer that cannot be encoded becomes a JSON error, never a 500 page."""
    try:
        return JSONResponse(content, status_code=status, headers=headers)
    except (ValueError, TypeError):
        logger.exception("An answer could not be encoded as JSON")
        return JSONResponse({"errors": [{"message": "The answer could not be encoded as JSON; the backend's log "
                                                    "has the details.", "extensions": {"code": "INTERNAL_ERROR"}}]},
                            status_code=500)


def _error(message: str, status: int = 400, code: str = "BAD_REQUEST", headers: Optional[Dict[str, str]] = None
           ) -> Response:
    return _json({"errors": [{"message": message, "extensions": {"code": code}}]}, status, headers)


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def _decode_body(raw: bytes) -> Union[Dict[str, Any], List[Dict[str, Any]]]:
    """One operation (a JSON object), or a batch (a JSON array of them)."""
    body = loads_input(raw or b"{}")
    if isinstance(body, list):
        return decode_batch(body, lambda item: _decode_operation(raw, item))
    return _decode_operation(raw, body)


def _decode_operation(raw: bytes, body: Any) -> Dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise ValueError("expected a JSON object with a 'query' string")
    variables = body.get("variables")
    if isinstance(variables, str):  # Prefect's client sends variables as JSON text ("null" if none)
        variables = loads_input(variables)
    if variables is not None and not isinstance(variables, dict):
        raise ValueError("'variables' must be a JSON object")
    body["variables"] = variables
    if SURROGATE_ESCAPE.search(raw) and has_lone_surrogate(body):
        raise ValueError("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode")
    return body


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk; _TooLarge as soon as it passes `limit` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


HEALTH_TIMEOUT = 5.0  # seconds the database may take to answer a health check


def _lifespan(db: Database, settings: ServerSettings, polls: RunnerPolls, writers: ThreadPoolExecutor,
              availability: Availability):
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        policy = recovery_policy(settings)
        watch = AvailabilityWatch(availability, db)
        services: List[PeriodicService] = [Scheduler(db), Recovery(db, policy, polls, availability=availability)]
        watch.start()
        for service in services:
            service.start()
        try:
            yield
        finally:
            for service in services:
                service.stop()
            watch.stop()
            writers.shutdown(wait=True)
            db.dispose()

    return lifespan


def recovery_policy(settings: ServerSettings) -> RecoveryPolicy:
    """How this backend judges and recovers dead runs (the sweep, and runs reported dead)."""
    return RecoveryPolicy(dt.timedelta(seconds=settings.heartbeat_timeout), settings.max_resurrections,
                          dt.timedelta(seconds=settings.submitted_timeout))


def create_app(settings: ServerSettings) -> Starlette:
    """The embedded backend as an ASGI app, with its database opened (and created) at `settings.database`."""
    db = open_database(settings.database, statement_timeout=settings.request_timeout,
                       sqlite_synchronous=settings.sqlite_synchronous)
    with db.write() as conn:
        tenant_id = ensure_default_tenant(conn)
    limits = CostLimits(settings.max_query_depth, settings.max_query_fields, settings.max_query_rows)
    service = GraphQLService(build(), limits)
    stats = RequestStats()
    metrics = Metrics(db, db.changes.waiting)
    set_link_base(db, settings.link_base)
    polls = RunnerPolls()  # flow processes polling their own run: proof they are alive
    db.share_polls(polls)
    # when the backend could not hear flow runs: silence it caused is no evidence of death
    availability = Availability(settings.heartbeat_timeout, settings.submitted_timeout)
    db.watch_availability(availability)
    policy = recovery_policy(settings)  # also for runs an agent reports dead
    in_flight = [0]  # requests being served (one event loop: no lock needed)
    # Mutations run on threads of their own, so that writes queued behind the database's one
    # writer never take the threads reads need: a read never waits behind a write flood.
    writers = ThreadPoolExecutor(WRITER_THREADS[db.store], thread_name_prefix="tasks-flowrun-writer")

    def _authorized(request: Request) -> bool:
        if not settings.api_key:
            return True
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, f"Bearer {settings.api_key}".encode())

    def _cross_site_refusal(request: Request) -> Optional[Response]:
        """Browsers send `text/plain` and form posts cross-site without asking first; only
        `application/json` (which needs a CORS preflight we never grant) or an allowed
        Origin may run anything."""
        origin = request.headers.get("origin")
        if origin is not None and origin in settings.cors_origins:
            return None
        if origin is not None and not same_origin_page(request, settings):  # its own web page may post
            return _error(f"Requests from the web page origin {origin!r} are not allowed.", 403, "FORBIDDEN")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return _error(f"Unsupported Content-Type {media or '(none)'!r}: send the request as application/json.",
                          415, "UNSUPPORTED_MEDIA_TYPE")
        return None

    def _prepare(body: Dict[str, Any], seen: Observed) -> Tuple[Optional[DocumentNode], List[Dict[str, Any]]]:
        document, errors = service.prepare(body["query"], body["variables"], body.get("operationName"))
        fields = root_fields(document) if document is not None else []
        stats.record(fields)
        seen.document(fields)
        return document, errors

    def _result(document: DocumentNode, body: Dict[str, Any], headers: Dict[str, str], budget: Budget
                ) -> Dict[str, Any]:
        # a browser's reads (the Prefect UI polls runs by id) prove no flow process alive
        run_polls = None if "origin" in headers or "x-prefect-ui" in headers else polls
        with RequestContext(db, tenant_id, headers, run_polls, budget, policy, settings.version_locking,
                            settings) as context:
            result = service.run(document, body["variables"], body.get("operationName"), context)
        if result.get("errors") and budget.stopped():  # interrupted: say why, not what broke
            return {"errors": [{"message": budget.reason or "Request stopped.", "extensions": {"code": "TIMEOUT"}}]}
        return result

    def _execute(body: Dict[str, Any], headers: Dict[str, str], budget: Budget, seen: Observed) -> Response:
        document, errors = _prepare(body, seen)
        if document is None:
            return _json({"errors": errors}, status=400)
        result = _result(document, body, headers, budget)
        seen.result(result)
        if only_unavailable(result):  # nothing was done: Prefect's client sends it again after a pause
            return _json(result, status=503, headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)})
        return _json(result)

    def _execute_batch(bodies: List[Dict[str, Any]], headers: Dict[str, str], budget: Budget, seen: Observed
                       ) -> Response:
        """Each operation on its own, in order, once the batch's summed cost is within the limits."""
        prepared = [_prepare(body, Observed()) for body in bodies]
        seen.batch()
        refusal = cost_refusal(service.schema, limits, [(document, body) for body, (document, _) in
                                                        zip(bodies, prepared) if document is not None])
        if refusal is not None:
            return _error(refusal, 400, "QUERY_TOO_COSTLY")
        results = [{"errors": errors} if document is None else _result(document, body, headers, budget)
                   for body, (document, errors) in zip(bodies, prepared)]
        for result in results:
            seen.result(result)
        if all(only_unavailable(result) for result in results):
            return _json(results, status=503, headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)})
        return _json(results)

    async def _run(request: Request, work: Callable[[Budget], Response], writes: bool) -> Response:
        """Do `work` in a worker thread (a writer's if it `writes`); if the client goes away
        meanwhile, stop it."""
        budget = Budget(settings.request_timeout, availability.last_stall)
        if writes:
            task = asyncio.get_running_loop().run_in_executor(writers, work, budget)
        else:
            task = asyncio.ensure_future(run_in_threadpool(work, budget))
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL)
            if done:
                return task.result()
            if await request.is_disconnected():
                budget.cancel("Request stopped: the client disconnected.")

    async def graphql_endpoint(request: Request, seen: Observed) -> Response:
        if not _authorized(request):
            seen.status = "unauthenticated"
            return _error("UNAUTHENTICATED: missing or wrong API key (send Authorization: Bearer <key>).",
                          status=200, code="UNAUTHENTICATED")
        refusal = _cross_site_refusal(request)
        if refusal is not None:
            return refusal
        limit = settings.max_request_bytes
        too_large = f"Request body too large: the limit is {limit:,} bytes ({_mib(limit)})."
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return _error(f"Request body too large: {int(declared):,} bytes > limit {limit:,} bytes ({_mib(limit)}).",
                          413, "PAYLOAD_TOO_LARGE")
        if in_flight[0] >= settings.max_concurrent_requests:
            return _error(f"The backend is busy: {settings.max_concurrent_requests} requests are already in flight "
                          "(its limit); retry shortly.", 503, "OVERLOADED", headers={"Retry-After": "1"})
        in_flight[0] += 1
        try:
            try:
                raw = await asyncio.wait_for(_read_body(request, limit), settings.request_timeout)
            except _TooLarge:
                return _error(too_large, 413, "PAYLOAD_TOO_LARGE")
            except asyncio.TimeoutError:
                return _error(f"Request body not received within {settings.request_timeout:g} s.", 408, "TIMEOUT")
            except ClientDisconnect:
                return _error("The client disconnected.", 400)
            try:
                body = _decode_body(raw)
            except ValueError as exc:  # JSON errors, invalid UTF-8 (UnicodeDecodeError) included
                return _error(f"Malformed request: {_short(exc)}.")
            except BatchRefused as exc:
                return _error(str(exc), 400, "BATCH_REFUSED")
            headers = {k.lower(): v for k, v in request.headers.items()}
            if isinstance(body, list):
                writes = any(MUTATION.search(item["query"]) for item in body)
                return await _run(request, lambda budget: _execute_batch(body, headers, budget, seen), writes)
            return await _run(request, lambda budget: _execute(body, headers, budget, seen),
                              bool(MUTATION.search(body["query"])))
        finally:
            in_flight[0] -= 1

    def _watch_guard(request: Request) -> Optional[Response]:
        stats.record(["watch"])
        if not _authorized(request):
            return _error("Missing or wrong API key (send Authorization: Bearer <key>).", 401, "UNAUTHENTICATED")
        return _cross_site_refusal(request)

    async def health(_request: Request) -> Response:
        """200 while the database answers (what a load balancer in front of several server
        processes should check), else 503."""
        try:
            with anyio.fail_after(HEALTH_TIMEOUT):
                await anyio.to_thread.run_sync(db.ping, abandon_on_cancel=True)
        except Exception as exc:  # unreachable, or too slow to answer
            logger.warning("Health check: the database does not answer: %s", exc)
            return JSONResponse({"status": "unavailable", "reason": "the database does not answer"}, status_code=503)
        return JSONResponse({"status": "ok", "store": db.store})

    watch = watch_endpoint(db, _watch_guard) if settings.push_changes else None

    async def stats_endpoint(request: Request) -> Response:
        if not _authorized(request):
            return _error("Missing or wrong API key (send Authorization: Bearer <key>).", 401, "UNAUTHENTICATED")
        snapshot = stats.snapshot()
        if watch is not None:
            snapshot["watch"] = watch.counters.snapshot()  # type: ignore[attr-defined]  # what `/watch` cost
        return JSONResponse(snapshot)

    async def http_error(_request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 400)
        return _error(f"{getattr(exc, 'detail', None) or 'Bad request'} (the API is POST / or /graphql).",
                      status, "NOT_FOUND" if status == 404 else "BAD_REQUEST")

    async def internal_error(_request: Request, exc: Exception) -> Response:
        logger.error("Unexpected error while serving a request", exc_info=exc)
        return _error("Internal error; the backend's log has the details.", 500, "INTERNAL_ERROR")

    graphql = metrics.instrument_graphql(graphql_endpoint)
    app = Starlette(routes=[
        Route("/", graphql, methods=["POST"]),
        Route("/graphql", graphql, methods=["POST"]),
        Route("/graphql/", graphql, methods=["POST"]),
        Route("/health", metrics.instrument("health", health), methods=["GET"]),
        Route("/stats", metrics.instrument("stats", stats_endpoint), methods=["GET"]),
        Route("/metrics", metrics.endpoint(_authorized, lambda: _error(
            "Missing or wrong API key (send Authorization: Bearer <key>).", 401, "UNAUTHENTICATED")), methods=["GET"]),
        # held until a watched run changes: pushed changes for wait_for_flow_run
        *([Route("/watch", metrics.instrument("watch", watch), methods=["POST"])] if watch is not None else []),
        *web_routes(),  # the web page: GET / for browsers, /<slug>/flow-run/<id>, /ui/<asset>
    ], lifespan=_lifespan(db, settings, polls, writers, availability),
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        middleware=[Middleware(CorsMiddleware, origins=settings.cors_origins)] if settings.cors_origins else [])
    app.state.stats = stats
    app.state.metrics = metrics
    app.state.db = db
    app.state.polls = polls
    app.state.availability = availability
    app.state.settings = settings
    return app


def _short(exc: Exception) -> str:
    """An exception's message without its class name, capped (for Malformed request errors)."""
    text = str(exc) or "unreadable body"
    return text if len(text) <= 300 else text[:300] + "..."
