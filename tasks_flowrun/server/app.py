"""The ASGI application of the embedded backend: its shared parts (backend.py), its routes
behind one guard (http/), CORS for `--cors-origin` origins, and its background services.

Every answer is JSON, errors included; the routes are listed in http/routes.py.
"""
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, List

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from .backend import Backend, open_backend
from .http.cors import cors_middleware
from .http.guard import Guard
from .http.request_stats import RequestStats
from .http.responses import http_error, internal_error
from .http.routes import build_routes
from .http.workers import Workers
from .services.availability import AvailabilityWatch
from .services.cloud_hook_delivery import CloudHookDelivery
from .services.periodic import Service
from .services.recovery import Recovery
from .services.scheduler import Scheduler
from .settings import ServerSettings

logger = logging.getLogger("tasks_flowrun.server")


def _lifespan(backend: Backend, workers: Workers) -> Callable:
    """Start the background services with the app, stop them (and close the database) with it."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        db = backend.db
        # in every process: the availability watch, the delivery of cloud hooks; in the
        # process leading the services: the periodic sweeps
        services: List[Service] = [
            AvailabilityWatch(backend.availability, db), CloudHookDelivery(db, backend.settings.link_base),
            Scheduler(db), Recovery(db, backend.recovery_policy, backend.polls, availability=backend.availability)]
        db.changes.reopen()  # a stop answered every held request and closed the feed
        for service in services:
            service.start()
        try:
            yield
        finally:
            for service in reversed(services):
                service.stop()
            workers.shutdown()
            db.dispose()

    return lifespan


def create_app(settings: ServerSettings) -> Starlette:
    """The embedded backend as an ASGI app, with its database opened (and created) at `settings.database`."""
    backend = open_backend(settings)
    stats = RequestStats()
    workers = Workers()
    app = Starlette(routes=build_routes(backend, Guard(settings), stats, workers),
                    lifespan=_lifespan(backend, workers),
                    exception_handlers={HTTPException: http_error, Exception: internal_error},
                    middleware=cors_middleware(settings))
    app.state.stats = stats
    app.state.metrics = backend.metrics
    app.state.db = backend.db
    app.state.polls = backend.polls
    app.state.availability = backend.availability
    app.state.settings = settings
    app.state.graphql = backend.graphql
    return app
