"""Errors raised by resolvers whose message is meant for the caller."""
from graphql import GraphQLError


class UserError(GraphQLError):
    """A request the backend refuses; the message says what was wrong."""

    def __init__(self, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message, extensions={"code": code})
