"""CORS for the browser origins given with `--cors-origin` (e.g. the Prefect UI on its own
port), by Starlette's `CORSMiddleware`.

A listed origin gets its preflight answered (the methods and the headers the Prefect UI
sends) and `Access-Control-Allow-Origin: <that origin>` plus `Vary: Origin` on every answer,
errors included, so the page can read them. A request from any other origin never reaches
the CORS middleware: it gets no CORS header at all (a preflight is answered like any
unknown OPTIONS request), the browser keeps its answers from the page, and the guard's
cross-site rule still refuses its requests. No credentials (cookies) are involved.
"""
from typing import FrozenSet, List

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..settings import ServerSettings

ALLOWED_METHODS = ("GET", "POST", "OPTIONS")
# what the Prefect UI's Apollo links send, plus Apollo's client identification
ALLOWED_HEADERS = (
    "authorization", "authorization-expiry", "content-type", "content-security-policy",
    "x-backend", "x-prefect-ui", "x-prefect-tenant-id", "x-prefect-user-id",
    "x-frame-options", "x-content-type-options", "x-permitted-cross-domain-policies",
    "apollographql-client-name", "apollographql-client-version",
)
MAX_AGE = 600  # seconds a browser may reuse a preflight answer


class ListedOriginsOnly:
    """Starlette's CORSMiddleware for requests from `origins`; every other request goes
    straight to the app (Starlette's would answer an unlisted origin's preflight with its
    allowed methods and headers)."""

    def __init__(self, app: ASGIApp, origins: FrozenSet[str]) -> None:
        self.app = app
        self.origins = origins
        self.cors = CORSMiddleware(app, allow_origins=sorted(origins), allow_methods=ALLOWED_METHODS,
                                   allow_headers=ALLOWED_HEADERS, allow_credentials=False, max_age=MAX_AGE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and Headers(scope=scope).get("origin") in self.origins:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def cors_middleware(settings: ServerSettings) -> List[Middleware]:
    """The app's CORS middleware: none without `--cors-origin`."""
    if not settings.cors_origins:
        return []
    return [Middleware(ListedOriginsOnly, origins=frozenset(settings.cors_origins))]
