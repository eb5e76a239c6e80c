"""Scalars: ids, timestamps (any offset in, fixed UTC text stored) and JSON values.

JSON arguments may be object literals, variables, or JSON-encoded strings. As in Prefect
Server, a string literal in the query text is JSON text (`info: "1.0"` is the number 1.0,
`parameters: "{\"a\": 2}"` an object); a variable string starting with `{` or `[` is decoded
too. Values are stored as JSON text and come back as sent: `1.0` stays a float, integers
keep every digit.
"""
import uuid
from typing import Any, Dict, Optional

from graphql import GraphQLError, GraphQLScalarType, ValueNode
from graphql.language import StringValueNode, print_ast
from graphql.utilities import value_from_ast_untyped

from ..storage.jsontext import JsonInputError, check_nesting, loads_input
from ..timestamps import TimestampError, to_utc_text


def _parse_uuid(value: Any) -> str:
    # Prefect Server's words ("Could not parse UUID"), for a literal as for a variable
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise GraphQLError(f"Could not parse UUID: {value!r} is an invalid value for an id "
                       "(expected a UUID such as '7f1e...-...').")


def _parse_uuid_literal(node: ValueNode, variables: Optional[Dict[str, Any]] = None) -> str:
    if not isinstance(node, StringValueNode):
        raise GraphQLError(f"Could not parse UUID: {print_ast(node)} is an invalid value for an id "
                           "(expected a UUID string).")
    return _parse_uuid(node.value)


def _parse_timestamp(value: Any) -> str:
    try:
        return to_utc_text(value)
    except TimestampError as exc:
        raise GraphQLError(str(exc)) from None


def _parse_timestamp_literal(node: ValueNode, variables: Optional[Dict[str, Any]] = None) -> str:
    if not isinstance(node, StringValueNode):
        raise GraphQLError("Invalid timestamp: expected an ISO 8601 string.")
    return _parse_timestamp(node.value)


def _decode_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return loads_input(value)
        except JsonInputError as exc:
            raise GraphQLError(f"Invalid JSON value {value[:80]!r}: {exc}.") from None
        except ValueError:
            raise GraphQLError(f"Invalid JSON value {value[:80]!r}: the string is not valid JSON.") from None
    try:
        check_nesting(value)
    except JsonInputError as exc:
        raise GraphQLError(f"Invalid JSON value: {exc}.") from None
    return value


def _parse_json_literal(node: ValueNode, variables: Optional[Dict[str, Any]] = None) -> Any:
    if isinstance(node, StringValueNode):  # JSON text, as Prefect Server reads it
        try:
            return loads_input(node.value)
        except JsonInputError as exc:
            raise GraphQLError(f"Invalid JSON value {node.value[:80]!r}: {exc}.") from None
        except ValueError:
            raise GraphQLError(f"Invalid JSON value {node.value[:80]!r}: a JSON string literal must hold JSON "
                               "text (write a string as '\\\"text\\\"').") from None
    return _decode_json(value_from_ast_untyped(node, variables))


def _identity(value: Any) -> Any:
    return value


def _scalar(name: str, parse, parse_literal, description: str) -> GraphQLScalarType:
    return GraphQLScalarType(name, serialize=_identity, parse_value=parse, parse_literal=parse_literal,
                             description=description)


SCALARS = {
    "uuid": _scalar("uuid", _parse_uuid, _parse_uuid_literal, "A UUID string."),
    "UUID": _scalar("UUID", _parse_uuid, _parse_uuid_literal, "A UUID string."),
    "timestamptz": _scalar("timestamptz", _parse_timestamp, _parse_timestamp_literal, "An ISO 8601 instant."),
    "DateTime": _scalar("DateTime", _parse_timestamp, _parse_timestamp_literal, "An ISO 8601 instant."),
    "jsonb": _scalar("jsonb", _decode_json, _parse_json_literal, "Any JSON value."),
    "JSON": _scalar("JSON", _decode_json, _parse_json_literal, "Any JSON value."),
}
