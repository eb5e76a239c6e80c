"""uvicorn settings shared by `tasks-flowrun server` and `EmbeddedServer`, with a header
timeout and answers written whole.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but lets a connection take
forever to send a request's headers, so a few slow or half-open clients could hold sockets
open indefinitely. The protocol below closes a connection whose request headers are not
complete `header_timeout` seconds after it opened or after its previous response. It also
writes each answer's head and body in one write (whole_answers.py): it sets its
`transport` attribute, which uvicorn's protocol and its response cycles write through, to
a `WholeAnswerTransport` (uvicorn has no public hook for this).
"""
import asyncio
from typing import Any, Dict, Optional

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..settings import ServerSettings
from .whole_answers import WholeAnswerTransport


GRACEFUL_SHUTDOWN = 10.0  # seconds a stopping server waits for requests in flight


class HeaderTimeoutProtocol(HttpToolsProtocol):
    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = WholeAnswerTransport(transport)  # type: ignore[assignment]
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]  # an answer without body
        pipelined = bool(self.pipeline)  # the next request's headers are already in
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer: Optional[asyncio.TimerHandle] = self.loop.call_later(self.header_timeout,
                                                                                self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: ServerSettings) -> Dict[str, Any]:
    """Keyword arguments for `uvicorn.Config` that bound idle and slow connections."""
    protocol = type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": settings.header_timeout})
    return {
        "http": protocol,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "h11_max_incomplete_event_size": 64 * 1024,  # request line + headers
        # logging is set up by the command (tasks_flowrun/logging_setup.py), not by uvicorn
        "log_config": None,
        "log_level": None,
        "access_log": settings.access_log,
        "lifespan": "on",
        # a stopping server answers held requests at once (draining.py); any other request
        # still unanswered after this long is cancelled, so a stop never outlasts it by much
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN,
    }
