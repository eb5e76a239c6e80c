"""Errors raised by the client layer when the backend says no (or cannot find something)."""
from typing import Any, List


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
