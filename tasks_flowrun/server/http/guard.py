"""The one guard every route goes through, before its handler runs.

In order: the API key (unless the route is public), then for routes that take a body the
cross-site rule, the declared body size, the bound on requests in flight (for the routes
that count: a held `/watch` does not), and the body itself, read under its size limit and
the request's time limit. The handler finds the body in `request.state.body`.

Every route answers a missing or wrong API key the same way: HTTP 200 with a GraphQL error
whose code is `UNAUTHENTICATED`. Prefect 1's client raises `AuthorizationError` with that
message for such an answer, whereas for an HTTP 401 it raises a bare `requests.HTTPError`
("401 Client Error: Unauthorized") that drops the body, and with it the hint of how to fix it.
"""
import asyncio
import functools
import hmac
from dataclasses import dataclass
from typing import Awaitable, Optional

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..metrics import Handler, Observed
from ..settings import ServerSettings
from ..web import same_origin_page
from .responses import error_response, mib

UNAUTHENTICATED = "UNAUTHENTICATED: missing or wrong API key (send Authorization: Bearer <key>)."


@dataclass(frozen=True)
class Policy:
    """What the guard checks for one route.

    Args:
        - public (bool): served without the API key (the health check, the web page's files)
        - body_limit (int, optional): the route takes a body of at most this many bytes: the
            cross-site rule applies and the guard reads the body (None: no body)
        - counted (bool): counts against `--max-concurrent-requests` while it is served
    """

    public: bool = False
    body_limit: Optional[int] = None
    counted: bool = False


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


async def _within(seconds: float, work: Awaitable[bytes]) -> bytes:
    """`work`'s result, or asyncio.TimeoutError after `seconds` (without a task of its own
    where Python has `asyncio.timeout`, 3.11+)."""
    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:
        return await asyncio.wait_for(work, seconds)
    async with timeout(seconds):
        return await work


class Guard:
    """API key and request limits of one backend (see the module's docstring)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.in_flight = 0  # counted requests being served (one event loop: no lock needed)

    def authorized(self, request: Request) -> bool:
        if not self.settings.api_key:
            return True
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, f"Bearer {self.settings.api_key}".encode())

    def cross_site_refusal(self, request: Request) -> Optional[Response]:
        """Browsers send `text/plain` and form posts cross-site without asking first; only
        `application/json` (which needs a CORS preflight we never grant) or an allowed
        Origin may run anything."""
        origin = request.headers.get("origin")
        if origin is not None and origin in self.settings.cors_origins:
            return None
        if origin is not None and not same_origin_page(request, self.settings):  # its own web page may post
            return error_response(f"Requests from the web page origin {origin!r} are not allowed.", 403, "FORBIDDEN")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return error_response(f"Unsupported Content-Type {media or '(none)'!r}: send the request as "
                                  "application/json.", 415, "UNSUPPORTED_MEDIA_TYPE")
        return None

    def protect(self, policy: Policy, handler: Handler) -> Handler:
        """`handler` behind the guard (its attributes stay readable on the result)."""

        @functools.wraps(handler)
        async def guarded(request: Request, seen: Observed) -> Response:
            if not policy.public and not self.authorized(request):
                seen.status = "unauthenticated"
                return error_response(UNAUTHENTICATED, 200, "UNAUTHENTICATED")
            if policy.body_limit is None:
                return await handler(request, seen)
            refusal = self.cross_site_refusal(request) or self._declared_too_large(request, policy.body_limit)
            if refusal is not None:
                return refusal
            if policy.counted:
                if self.in_flight >= self.settings.max_concurrent_requests:
                    return error_response(f"The backend is busy: {self.settings.max_concurrent_requests} requests "
                                          "are already in flight (its limit); retry shortly.", 503, "OVERLOADED",
                                          headers={"Retry-After": "1"})
                self.in_flight += 1
            try:
                refusal = await self._receive(request, policy.body_limit)
                return refusal if refusal is not None else await handler(request, seen)
            finally:
                if policy.counted:
                    self.in_flight -= 1

        guarded.guard_policy = policy  # type: ignore[attr-defined]  # what tests read: every route is guarded
        return guarded

    @staticmethod
    def _declared_too_large(request: Request, limit: int) -> Optional[Response]:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return error_response(f"Request body too large: {int(declared):,} bytes > limit {limit:,} bytes "
                                  f"({mib(limit)}).", 413, "PAYLOAD_TOO_LARGE")
        return None

    async def _receive(self, request: Request, limit: int) -> Optional[Response]:
        """Read the body into `request.state.body`; a refusal if it could not be."""
        timeout = self.settings.request_timeout
        try:
            request.state.body = await _within(timeout, _read_body(request, limit))
        except _TooLarge:
            return error_response(f"Request body too large: the limit is {limit:,} bytes ({mib(limit)}).", 413,
                                  "PAYLOAD_TOO_LARGE")
        except asyncio.TimeoutError:
            return error_response(f"Request body not received within {timeout:g} s.", 408, "TIMEOUT")
        except ClientDisconnect:
            return error_response("The client disconnected.", 400)
        return None
