"""Errors raised by the client layer when the backend says no (or cannot find something)."""
from typing import Any, List, Optional


class FlowNotFoundError(ValueError):
    """No flow matches the identifier given to `CreateFlowRun`."""


class AmbiguousFlowError(ValueError):
    """A flow name matches flows in several projects (or version groups)."""


class ArchivedFlowError(ValueError):
    """The identified flow exists but is archived, so no run can be created for it."""


class FlowRunNotFoundError(ValueError):
    """A flow run id given to `WaitForFlowRun` does not exist on the backend."""


class BackendRejectedError(ValueError):
    """The backend refused a request (e.g. a required parameter is missing)."""


class ParentGoneError(BackendRejectedError):
    """The backend refused to create a child because its parent flow run is cancelled
    (`PARENT_CANCELLED`) or was deleted (`PARENT_DELETED`): nothing was created."""


PARENT_CODES = {"PARENT_CANCELLED": "cancelled", "PARENT_DELETED": "deleted"}


def error_codes(exc: BaseException) -> List[str]:
    """
    The `extensions.code` of each GraphQL error inside a `prefect.exceptions.ClientError`.

    Args:
        - exc (BaseException): the error raised by `Client.graphql`

    Returns:
        - List[str]: the codes given (none for an error without a list of errors)
    """
    errors: Any = exc.args[0] if exc.args else None
    if not isinstance(errors, list):
        return []
    codes = []
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if isinstance(code, str):
            codes.append(code)
    return codes


def backend_messages(exc: BaseException) -> str:
    """
    The human-readable messages inside a `prefect.exceptions.ClientError`.

    `ClientError(result["errors"])` carries the GraphQL error list as its first argument;
    its `str()` is the list's repr, which is hard to read, so pull out the `message`s.

    Args:
        - exc (BaseException): the error raised by `Client.graphql`

    Returns:
        - str: the messages joined by "; " (or `str(exc)` if there is no error list)
    """
    errors: Any = exc.args[0] if exc.args else None
    if isinstance(errors, list):
        messages: List[str] = []
        for error in errors:
            message = error.get("message") if isinstance(error, dict) else None
            messages.append(str(message if message is not None else error))
        if messages:
            return "; ".join(messages)
    return str(exc)


class TaskRunNotFoundError(ValueError):
    """A flow run has no task run with the task slug (and map index) asked for."""


class TaskResultUnavailableError(ValueError):
    """A task run finished, but its result cannot be loaded (not persisted, not readable)."""


REFUSAL_ADVICE = {
    413: "pass smaller parameters or context",
    400: "the request itself was refused",
    503: "the backend is overloaded; retry later",
    408: "the request was too slow to arrive",
}


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def http_refusal(exc: BaseException) -> Optional[str]:
    """
    A readable sentence for an HTTP error answer (413 too large, 503 busy, ...), or None.

    `Client.graphql` raises a bare `requests.HTTPError: 413 Client Error` for these; the
    backend's JSON answer (when it sent one) says which limit was hit, and the size of the
    body we sent says by how much.

    Args:
        - exc (BaseException): the error raised by `Client.graphql`

    Returns:
        - str: e.g. "the backend refused the request (HTTP 413): body of 20.0 MB; Request
            body too large: ... limit 16,777,216 bytes; pass smaller parameters or context"
    """
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if response is None or not isinstance(status, int) or status < 400:
        return None
    parts = [f"the backend refused the request (HTTP {status})"]
    body = getattr(getattr(response, "request", None), "body", None)
    if status == 413 and isinstance(body, (bytes, str)):
        parts.append(f"body of {_megabytes(len(body))}")
    try:
        errors = response.json().get("errors") or []
        message = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        message = ""
    if message:
        parts.append(message.rstrip("."))
    advice = REFUSAL_ADVICE.get(status)
    if advice:
        parts.append(advice)
    return "; ".join(parts)
