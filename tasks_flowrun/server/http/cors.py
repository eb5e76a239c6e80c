"""CORS for the browser origins given with `--cors-origin` (e.g. the Prefect UI on its own port).

A listed origin gets its preflight (`OPTIONS` with `Access-Control-Request-Method`) answered
and `Access-Control-Allow-Origin: <that origin>` plus `Vary: Origin` on every answer, errors
included, so the page can read them. Any other origin gets no CORS header at all: the
browser keeps its answers from the page, and the cross-site rule in app.py still refuses its
requests. No credentials (cookies) are involved: the backend uses none.
"""
from typing import Iterable, List, Tuple

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..settings import ServerSettings

ALLOWED_METHODS = "GET, POST, OPTIONS"
# what the Prefect UI's Apollo links send, plus Apollo's client identification
ALLOWED_HEADERS = (
    "authorization", "authorization-expiry", "content-type", "content-security-policy",
    "x-backend", "x-prefect-ui", "x-prefect-tenant-id", "x-prefect-user-id",
    "x-frame-options", "x-content-type-options", "x-permitted-cross-domain-policies",
    "apollographql-client-name", "apollographql-client-version",
)
MAX_AGE = "600"  # seconds a browser may reuse a preflight answer


def _cors_headers(origin: str) -> List[Tuple[bytes, bytes]]:
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]


class CorsMiddleware:
    """ASGI middleware granting CORS to `origins` only (exact `scheme://host[:port]` matches)."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or origin not in self.origins:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["access-control-allow-origin"] = origin
                response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(origin: str, send: Send) -> None:
        headers = _cors_headers(origin) + [
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def cors_middleware(settings: ServerSettings) -> List[Middleware]:
    """The app's CORS middleware: none without `--cors-origin`."""
    return [Middleware(CorsMiddleware, origins=settings.cors_origins)] if settings.cors_origins else []
