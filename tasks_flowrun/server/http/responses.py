"""JSON answers: every answer of the backend is JSON, errors included."""
import logging
from typing import Any, Dict, Optional

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

logger = logging.getLogger("tasks_flowrun.server")


def json_response(content: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> Response:
    """A JSON response; an answer that cannot be encoded becomes a JSON error, never a 500 page."""
    try:
        return JSONResponse(content, status_code=status, headers=headers)
    except (ValueError, TypeError):
        logger.exception("An answer could not be encoded as JSON")
        return JSONResponse({"errors": [{"message": "The answer could not be encoded as JSON; the backend's log "
                                                    "has the details.", "extensions": {"code": "INTERNAL_ERROR"}}]},
                            status_code=500)


def error_response(message: str, status: int = 400, code: str = "BAD_REQUEST",
                   headers: Optional[Dict[str, str]] = None) -> Response:
    """`{"errors": [{"message", "extensions": {"code"}}]}`, as GraphQL errors are shaped."""
    return json_response({"errors": [{"message": message, "extensions": {"code": code}}]}, status, headers)


def mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


async def http_error(_request: Request, exc: Exception) -> Response:
    """A request no route serves (404, or 405 for a route's other methods)."""
    status = getattr(exc, "status_code", 400)
    return error_response(f"{getattr(exc, 'detail', None) or 'Bad request'} (the API is POST / or /graphql).",
                          status, "NOT_FOUND" if status == 404 else "BAD_REQUEST")


async def internal_error(_request: Request, exc: Exception) -> Response:
    logger.error("Unexpected error while serving a request", exc_info=exc)
    return error_response("Internal error; the backend's log has the details.", 500, "INTERNAL_ERROR")
