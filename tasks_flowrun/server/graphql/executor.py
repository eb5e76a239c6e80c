"""Execute GraphQL requests: cached parse + validate, a depth limit, clean error reporting.

Parsing and validating cost far more than executing, and Prefect's client sends the same
few documents over and over, so validated documents are cached by their text.
"""
import logging
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from graphql import ExecutionResult, GraphQLError, GraphQLSchema, execute, parse, validate
from graphql.language import DocumentNode, FieldNode, OperationDefinitionNode


logger = logging.getLogger("tasks_flowrun.server")

CACHE_SIZE = 1024


def _depth(selection_set: Any, level: int = 1) -> int:
    if selection_set is None:
        return level - 1
    return max((_depth(getattr(s, "selection_set", None), level + 1) for s in selection_set.selections),
               default=level)


def root_fields(document: DocumentNode) -> List[str]:
    """Names of the root fields a document asks for (for request statistics)."""
    names = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            names += [s.name.value for s in definition.selection_set.selections if isinstance(s, FieldNode)]
    return names


def _format(error: GraphQLError) -> Dict[str, Any]:
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        logger.error("Unexpected error while resolving %s", error.path, exc_info=original)
        message = f"Internal error in {'.'.join(map(str, error.path or []))}: {type(original).__name__}: {original}"
        code = "INTERNAL_ERROR"
    else:
        message = error.message
        code = (error.extensions or {}).get("code", "BAD_REQUEST")
    formatted: Dict[str, Any] = {"message": message, "extensions": {"code": code}}
    if error.path:
        formatted["path"] = error.path
    if error.locations:
        formatted["locations"] = [{"line": l.line, "column": l.column} for l in error.locations]
    return formatted


class GraphQLService:
    """Turns one request body into one response body (and an HTTP status)."""

    def __init__(self, schema: GraphQLSchema, max_depth: int = 12) -> None:
        self.schema = schema
        self.max_depth = max_depth
        self._cache: "OrderedDict[str, DocumentNode]" = OrderedDict()
        self._lock = threading.Lock()

    def prepare(self, query: str) -> Tuple[Optional[DocumentNode], List[Dict[str, Any]]]:
        """A parsed and validated document for `query`, or the errors that stop it."""
        with self._lock:
            document = self._cache.get(query)
            if document is not None:
                self._cache.move_to_end(query)
                return document, []
        try:
            document = parse(query)
        except GraphQLError as exc:
            return None, [{"message": f"Syntax error: {exc.message}", "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]
        depth = max((_depth(d.selection_set) for d in document.definitions if hasattr(d, "selection_set")), default=0)
        if depth > self.max_depth:
            return None, [{"message": f"Query is nested {depth} levels deep; the limit is {self.max_depth}.",
                           "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]
        errors = validate(self.schema, document)
        if errors:
            return None, [{"message": e.message, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}} for e in errors]
        with self._lock:
            self._cache[query] = document
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return document, []

    def run(self, document: DocumentNode, variables: Optional[Dict[str, Any]], operation_name: Optional[str],
            context: Any) -> Dict[str, Any]:
        result = execute(self.schema, document, variable_values=variables, operation_name=operation_name,
                         context_value=context)
        assert isinstance(result, ExecutionResult), "resolvers are synchronous"
        body: Dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [_format(e) for e in result.errors]
        return body
