"""Errors the domain functions raise; the GraphQL layer reports their message verbatim."""
from typing import Optional


class ApiError(Exception):
    """A request the backend refuses, with a message that says what was wrong."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class NotFound(ApiError):
    code = "NOT_FOUND"


class Uniqueness(ApiError):
    """Prefect's client recognises exactly this message for duplicates (e.g. projects)."""

    code = "CONSTRAINT_VIOLATION"

    def __init__(self) -> None:
        super().__init__("Uniqueness violation.")
