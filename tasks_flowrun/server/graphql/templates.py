"""Documents that differ from a validated one only in their literal values, built without
parsing or validating them again.

Prefect's client writes ids, indexes and times into the text of its documents, so most of
the documents a flow run sends are new texts of a few fixed forms. A document's *template
key* is its text with each string and number literal replaced by a marker of its kind;
documents of one key have the same tokens but for those literals. Once a document of a key
was parsed and validated in full, a new text of that key is built from it: the parsed
document with the new literal nodes put in place of the old ones (nodes that hold no
literal are shared). Of validation only what depends on literal values is done again:

- each literal is parsed by the scalar its position expects (what `ValuesOfCorrectTypeRule`
  does for a literal): an Int out of range, a malformed id or JSON text is refused;
- two fields of one response name must have equal arguments
  (`OverlappingFieldsCanBeMergedRule`): a template whose selection sets have no fragments
  and no repeated response name cannot break that rule whatever its values; other
  templates run the rule on every new document.

A text that holds a comment, a backslash (escapes) or a block string gets no template: it
is parsed and validated as usual. Error locations of a built document point into the text
its template was made from (the same lines; a column after a literal of another length on
the same line may be off by the difference).
"""
import re
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union, cast

from graphql import GraphQLError, GraphQLSchema, TypeInfo, TypeInfoVisitor, Visitor, get_named_type, visit
from graphql.language import (DocumentNode, FieldNode, FloatValueNode, FragmentDefinitionNode, IntValueNode, Node,
                              SelectionSetNode, StringValueNode)
from graphql.pyutils import Undefined
from graphql.type import GraphQLEnumType, GraphQLInputType, GraphQLScalarType, is_leaf_type

CACHE_SIZE = 1024
# A string (no escapes: texts with a backslash get no template) or something that starts
# like a number where a name does not go on; checked against NUMBER below.
_LITERAL = re.compile(r'"[^"\r\n]*"|(?<![_0-9A-Za-z])-?[0-9][_0-9A-Za-z.+-]*')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NO_TEMPLATE = ("#", "\\", '"""', "\x00")  # a comment, an escape, a block string, the key's marker
_VALUE_NODES = (StringValueNode, IntValueNode, FloatValueNode)

Literal = Tuple[type, str]  # (value node class, the literal's text)
ValueLiteral = Union[StringValueNode, IntValueNode, FloatValueNode]


def literals(text: str) -> Optional[Tuple[str, List[Literal]]]:
    """(template key, the literals in order) of a document's text, or None for a text that
    gets no template."""
    if any(marker in text for marker in _NO_TEMPLATE):
        return None
    found: List[Literal] = []
    parts: List[str] = []
    start = 0
    for match in _LITERAL.finditer(text):
        raw = match.group()
        if raw[0] == '"':
            kind: type = StringValueNode
        else:
            number = _NUMBER.fullmatch(raw)
            if number is None:  # not a number token: the parser's business
                return None
            kind = IntValueNode if number.group(1) is None and number.group(2) is None else FloatValueNode
        found.append((kind, raw))
        parts += [text[start:match.start()], "\x00", kind.__name__[0]]
        start = match.end()
    parts.append(text[start:])
    return "".join(parts), found


def _node(kind: type, raw: str) -> Node:
    if kind is StringValueNode:
        return StringValueNode(value=raw[1:-1], block=False)
    return kind(value=raw)


class _LiteralTypes(Visitor):
    """Records the input type expected where each literal value node stands."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.types: Dict[int, Optional[GraphQLInputType]] = {}

    def _record(self, node: Node, *_: Any) -> None:
        self.types[id(node)] = self.type_info.get_input_type()

    enter_string_value = enter_int_value = enter_float_value = _record


class _Nodes(Visitor):
    """Every value literal (in source order) and the ancestors of each (the nodes a new
    document must copy)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: List[Node] = []
        self.spine: Set[int] = set()

    def enter(self, node: Node, key: Any, parent: Any, path: Any, ancestors: Sequence[Any]) -> None:
        if isinstance(node, _VALUE_NODES):
            self.values.append(node)
            self.spine.update(id(a) for a in (*ancestors, parent) if isinstance(a, Node))


def _overlap_free(document: DocumentNode) -> bool:
    """No fragments and no repeated response name in any selection set: then no values can
    make two fields of one response name conflict."""
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            return False
    safe = True

    class Check(Visitor):
        def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> None:
            nonlocal safe
            names = set()
            for selection in node.selections:
                if not isinstance(selection, FieldNode):  # a fragment spread or an inline fragment
                    safe = False
                    return
                name = (selection.alias or selection.name).value
                if name in names:
                    safe = False
                    return
                names.add(name)

    visit(document, Check())
    return safe


class Template:
    """A validated document and where its literals are: builds its siblings of other values."""

    def __init__(self, document: DocumentNode, values: List[Node], spine: Set[int],
                 types: List[GraphQLInputType], overlap_free: bool) -> None:
        self.document = document
        self.values = values
        self.spine = spine
        self.types = types
        self.overlap_free = overlap_free

    def build(self, found: List[Literal]) -> Optional[DocumentNode]:
        """The document with these literals, or None if one of them is not a valid value
        where it stands (the caller then parses and validates the text as usual, which
        reports the error)."""
        replacements: Dict[int, Node] = {}
        for old, (kind, raw), expected in zip(self.values, found, self.types):
            if cast(ValueLiteral, old).value == (raw[1:-1] if kind is StringValueNode else raw):
                continue
            new = _node(kind, raw)
            if not _valid(new, expected):
                return None
            replacements[id(old)] = new
        if not replacements:
            return self.document
        return _substitute(self.document, replacements, self.spine)  # type: ignore[return-value]


def _valid(node: Node, expected: GraphQLInputType) -> bool:
    """What ValuesOfCorrectTypeRule checks of a literal: its scalar parses it."""
    scalar = cast(Union[GraphQLScalarType, GraphQLEnumType], get_named_type(expected))
    try:
        return scalar.parse_literal(node) is not Undefined  # type: ignore[arg-type]
    except (GraphQLError, ValueError, TypeError, ArithmeticError):
        return False


def _substitute(node: Node, replacements: Dict[int, Node], spine: Set[int]) -> Node:
    """`node` with the replacements made below it: the nodes on the way to a replaced one are
    copied (set directly: the nodes' own __setattr__ and __init__ cost more than the copy),
    every other node is shared."""
    new = replacements.get(id(node))
    if new is not None:
        return new
    if id(node) not in spine:
        return node
    clone = object.__new__(type(node))
    for key in node.keys:
        child = getattr(node, key)
        if isinstance(child, Node):
            child = _substitute(child, replacements, spine)
        elif isinstance(child, tuple):
            child = tuple(_substitute(c, replacements, spine) if isinstance(c, Node) else c for c in child)
        object.__setattr__(clone, key, child)
    return clone


def make_template(schema: GraphQLSchema, text: str, found: List[Literal], document: DocumentNode
                  ) -> Optional[Template]:
    """The template of a document that validated in full, `found` being its text's literals
    (`literals`), or None if they are not where the parse put its value nodes."""
    nodes = _Nodes()
    visit(document, nodes)
    values = sorted(nodes.values, key=lambda n: n.loc.start if n.loc else -1)
    if len(values) != len(found):
        return None
    for node, (kind, raw) in zip(values, found):
        if type(node) is not kind or node.loc is None or text[node.loc.start:node.loc.end] != raw:
            return None
    type_info = TypeInfo(schema)
    recorder = _LiteralTypes(type_info)
    visit(document, TypeInfoVisitor(type_info, recorder))
    types = [recorder.types.get(id(node)) for node in values]
    if any(t is None or not is_leaf_type(get_named_type(t)) for t in types):
        return None
    return Template(document, values, nodes.spine, types, _overlap_free(document))  # type: ignore[arg-type]


class Templates:
    """Templates by key, at most CACHE_SIZE (least recently used dropped first)."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._templates: "OrderedDict[str, Template]" = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0  # documents built from a template

    def document(self, text: str) -> Tuple[Optional[DocumentNode], bool]:
        """(the document built from the text's template, whether it still needs
        `OverlappingFieldsCanBeMergedRule`), or (None, False) when it has no template or a
        literal of it is invalid."""
        scanned = literals(text)
        if scanned is None:
            return None, False
        key, found = scanned
        with self._lock:
            template = self._templates.get(key)
            if template is not None:
                self._templates.move_to_end(key)
        if template is None:
            return None, False
        document = template.build(found)
        if document is None:
            return None, False
        with self._lock:
            self.hits += 1
        return document, not template.overlap_free

    def learn(self, text: str, document: DocumentNode) -> None:
        """Keep the template of `document`, parsed from `text` and valid in full."""
        scanned = literals(text)
        if scanned is None:
            return
        key, found = scanned
        with self._lock:
            if key in self._templates:
                return
        template = make_template(self.schema, text, found, document)
        if template is None:
            return
        with self._lock:
            self._templates[key] = template
            if len(self._templates) > CACHE_SIZE:
                self._templates.popitem(last=False)
