"""Execute GraphQL requests: cached parse + validate, a cost check, clean error reporting.

Parsing and validating cost far more than executing, and Prefect's client sends the same
few documents over and over, so validated documents are cached by their text. Many of its
documents differ only in literal values written into them (a run's id, a time), so a
document whose text is new but whose shape (its tokens, literal values left out: see
`shape`) was validated before is checked only by the rules whose outcome depends on
literal values (`LITERAL_RULES`), a fifth of the full validation's cost; most such texts
are not even parsed, but built from an earlier document's template (templates.py). Before
validation, a document is refused if it is too long (tokens), too deep, too wide or would
fetch too many rows (see cost.py); the cost check runs on every request, cached or not,
because a `limit` may come from the variables.
"""
import logging
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from graphql import ExecutionResult, GraphQLError, GraphQLSchema, execute, parse, validate
from graphql.language import DocumentNode, FieldNode, OperationDefinitionNode, TokenKind
from graphql.validation import OverlappingFieldsCanBeMergedRule, ValuesOfCorrectTypeRule

from ..storage.database import database_unavailable
from .cost import CostLimits, TooCostly, check_cost
from .templates import Templates
from .unsupported import refusal as unsupported_refusal

logger = logging.getLogger("tasks_flowrun.server")

CACHE_SIZE = 1024
SHAPE_CACHE_SIZE = 1024
# Of graphql-core's validation rules, the ones whose outcome depends on literal values: a
# value of the wrong type (or one a scalar refuses), and two fields of one response name
# whose arguments differ. Every other rule looks at names, token kinds and structure only.
LITERAL_RULES = (ValuesOfCorrectTypeRule, OverlappingFieldsCanBeMergedRule)
_VALUE_TOKENS = frozenset((TokenKind.STRING, TokenKind.BLOCK_STRING, TokenKind.INT, TokenKind.FLOAT))
MAX_TOKENS = 20_000  # lexical tokens in one document; Prefect's largest documents have a few hundred


# Strings the Prefect client reacts to in an error message (docs/architecture.md, "Prefect 1
# API compatibility"). This layer never writes them; a message that quotes them from the
# request itself (a value, a name) gets them in lower case, so the client never mistakes a
# bad request for a refused API key or a server failure.
CLIENT_MAGIC = ("API_ERROR", "UNAUTHENTICATED", "Malformed Authorization header")


def defuse(message: str) -> str:
    for marker in CLIENT_MAGIC:
        if marker in message:
            message = message.replace(marker, marker.lower())
    return message


def _refusal(message: str, code: str = "GRAPHQL_VALIDATION_FAILED") -> List[Dict[str, Any]]:
    return [{"message": defuse(message), "extensions": {"code": code}}]


def _validation_errors(errors: List[GraphQLError]) -> List[Dict[str, Any]]:
    return [{"message": defuse(e.message), "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}} for e in errors]


def shape(document: DocumentNode) -> str:
    """The parsed document's tokens with each literal value replaced by its kind (string,
    int, float): two documents of one shape differ in literal values only. Comments are left
    out, names (`true`, `null` and enum values included) and punctuation kept."""
    parts: List[str] = []
    token = document.loc.start_token.next if document.loc else None
    while token is not None and token.kind != TokenKind.EOF:
        if token.kind != TokenKind.COMMENT:
            parts.append(token.kind.value if token.kind in _VALUE_TOKENS or token.value is None else token.value)
        token = token.next
    return " ".join(parts)


def root_fields(document: DocumentNode) -> List[str]:
    """Names of the root fields a document asks for (for request statistics)."""
    names = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            names += [s.name.value for s in definition.selection_set.selections if isinstance(s, FieldNode)]
    return names


DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"


def _format(error: GraphQLError) -> Dict[str, Any]:
    original = error.original_error
    if original is not None and database_unavailable(original):
        logger.warning("The database could not be used while resolving %s: %s", error.path, original)
        message = ("The database is unavailable right now (unreachable, restarting or busy); nothing of this "
                   "request was kept: send it again.")
        code = DATABASE_UNAVAILABLE
    elif original is not None and not isinstance(original, GraphQLError):
        logger.error("Unexpected error while resolving %s", error.path, exc_info=original)
        message = (f"Internal error in {'.'.join(map(str, error.path or [])) or 'the request'}; "
                   "the backend's log has the details.")
        code = "INTERNAL_ERROR"
    else:
        message = error.message
        code = (error.extensions or {}).get("code", "BAD_REQUEST")
    formatted: Dict[str, Any] = {"message": defuse(message), "extensions": {"code": code}}
    if error.path:
        formatted["path"] = error.path
    if error.locations:
        formatted["locations"] = [{"line": l.line, "column": l.column} for l in error.locations]
    return formatted


def only_unavailable(result: Dict[str, Any]) -> bool:
    """Whether a result failed as a whole because the database was unavailable: every error
    says so and nothing was answered, so sending the request again is safe and may work."""
    errors = result.get("errors") or []
    if not errors or any((e.get("extensions") or {}).get("code") != DATABASE_UNAVAILABLE for e in errors):
        return False
    data = result.get("data")
    return not data or all(value is None for value in data.values())


class GraphQLService:
    """Turns one request body into one response body (and an HTTP status)."""

    def __init__(self, schema: GraphQLSchema, limits: CostLimits = CostLimits()) -> None:
        self.schema = schema
        self.limits = limits
        self._cache: "OrderedDict[str, DocumentNode]" = OrderedDict()
        self._shapes: "OrderedDict[str, None]" = OrderedDict()  # shapes of documents that validated
        self._lock = threading.Lock()
        self.shape_hits = 0  # documents checked by LITERAL_RULES only
        self.templates = Templates(schema)  # documents built without parsing (templates.py)

    def prepare(self, query: str, variables: Optional[Dict[str, Any]] = None, operation_name: Optional[str] = None,
                ) -> Tuple[Optional[DocumentNode], List[Dict[str, Any]]]:
        """A parsed, affordable and validated document for `query`, or the errors that stop it."""
        with self._lock:
            document = self._cache.get(query)
            if document is not None:
                self._cache.move_to_end(query)
        cached = document is not None
        built, overlap_check = False, False
        if document is None:
            document, overlap_check = self.templates.document(query)
            built = document is not None
        if document is None:
            try:
                document = parse(query, max_tokens=MAX_TOKENS)
            except GraphQLError as exc:
                return None, _refusal(f"Syntax error: {exc.message}", "GRAPHQL_PARSE_FAILED")
            except RecursionError:
                return None, _refusal("Syntax error: the document nests too deeply to be parsed.",
                                      "GRAPHQL_PARSE_FAILED")
        try:
            check_cost(self.schema, document, variables, operation_name, self.limits)
        except TooCostly as exc:
            return None, _refusal(str(exc), "QUERY_TOO_COSTLY")
        if cached:
            return document, []
        if built:
            return self._checked_build(query, document, overlap_check)
        unsupported = unsupported_refusal(root_fields(document))
        if unsupported:
            return None, _refusal(unsupported, "NOT_SUPPORTED")
        try:
            key = shape(document)
            with self._lock:
                known_shape = key in self._shapes
                if known_shape:
                    self._shapes.move_to_end(key)
                    self.shape_hits += 1
            errors = validate(self.schema, document, list(LITERAL_RULES) if known_shape else None)
        except RecursionError:
            return None, _refusal("The document nests too deeply to be validated.")
        if errors:
            return None, _validation_errors(errors)
        self._remember(query, document)
        with self._lock:
            self._shapes[key] = None
            if len(self._shapes) > SHAPE_CACHE_SIZE:
                self._shapes.popitem(last=False)
        self.templates.learn(query, document)
        return document, []

    def _checked_build(self, query: str, document: DocumentNode, overlap_check: bool
                       ) -> Tuple[Optional[DocumentNode], List[Dict[str, Any]]]:
        """A document built from a template (templates.py): its literals are valid where they
        stand; what is left to check is fields of one response name, if its template has any."""
        if overlap_check:
            errors = validate(self.schema, document, [OverlappingFieldsCanBeMergedRule])
            if errors:
                return None, _validation_errors(errors)
        self._remember(query, document)
        return document, []

    def _remember(self, query: str, document: DocumentNode) -> None:
        with self._lock:
            self._cache[query] = document
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def run(self, document: DocumentNode, variables: Optional[Dict[str, Any]], operation_name: Optional[str],
            context: Any) -> Dict[str, Any]:
        try:
            result = execute(self.schema, document, variable_values=variables, operation_name=operation_name,
                             context_value=context)
        except RecursionError:
            return {"data": None, "errors": _refusal("The request nests too deeply to be executed.",
                                                     "BAD_REQUEST")}
        if not isinstance(result, ExecutionResult):  # an awaitable: only synchronous resolvers exist
            raise TypeError("GraphQL execution returned an awaitable; resolvers must be synchronous")
        body: Dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [_format(e) for e in result.errors]
        return body
