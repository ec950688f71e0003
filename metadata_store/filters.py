"""``filter_query`` of ML-Metadata's list calls, parsed without ``eval`` and turned into SQL.

Supported: comparisons (``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``LIKE``, ``IN (...)``,
``IS NULL``, ``IS NOT NULL``) joined by ``AND``/``OR``/``NOT`` and parentheses, on

- the node's attributes: ``id``, ``name``, ``type``, ``type_id``, ``uri``, ``external_id``,
  ``state``/``last_known_state`` (enum names or numbers), ``create_time_since_epoch``,
  ``last_update_time_since_epoch``;
- ``properties.<name>.<kind>_value`` and ``custom_properties.<name>.<kind>_value`` with kind
  ``int``, ``double``, ``string`` or ``bool`` (a name with dots or spaces in backquotes);
- ``contexts_<alias>.<attribute>`` (id, name, type, create/update time): every predicate on
  one alias speaks of the same context, as in ML-Metadata.

Anything else is refused with ``InvalidArgument`` naming the token and its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    exists,
    not_,
    or_,
    select,
    true,
)

from domain.errors import InvalidArgument

from .proto import metadata_store_pb2 as pb
from .rows import (
    AssociationRow,
    AttributionRow,
    ContextRow,
    TypeRow,
)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,|\.)
      | (?P<quoted>`[^`]*`)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)

_KEYWORDS = {"AND", "OR", "NOT", "LIKE", "IN", "IS", "NULL", "TRUE", "FALSE"}
_VALUE_COLUMNS = {
    "int_value": "int_value",
    "double_value": "double_value",
    "string_value": "string_value",
    "bool_value": "bool_value",
}
_ENUMS = {
    "state": pb.Artifact.State,
    "last_known_state": pb.Execution.State,
}


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, op, quoted, word, end
    text: str
    position: int


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        if query[position:].strip() == "":
            break
        match = _TOKEN.match(query, position)
        if match is None or match.end() == position:
            raise InvalidArgument(
                f"filter_query: unexpected character {query[position:].strip()[:1]!r} "
                f"at position {position}"
            )
        kind = match.lastgroup or "op"
        text = match.group(kind)
        tokens.append(Token(kind, text, match.start(kind)))
        position = match.end()
    tokens.append(Token("end", "", len(query)))
    return tokens


@dataclass(frozen=True)
class NodeTables:
    """What a filter needs of the node being listed."""

    kind: str  # artifact, execution, context
    table: Table
    properties: Table
    type_kind: int


class FilterCompiler:
    """Recursive descent over the tokens, producing a WHERE clause on ``nodes.table``."""

    def __init__(self, query: str, nodes: NodeTables) -> None:
        self.query = query
        self.nodes = nodes
        self.tokens = tokenize(query)
        self.index = 0
        self.context_aliases: dict[str, Any] = {}

    # -- token helpers -------------------------------------------------------------------
    def _peek(self) -> Token:
        return self.tokens[self.index]

    def _next(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _is_word(self, word: str) -> bool:
        token = self._peek()
        return token.kind == "word" and token.text.upper() == word

    def _expect_op(self, op: str) -> None:
        token = self._next()
        if token.kind != "op" or token.text != op:
            self._fail(token, f"expected {op!r}")

    def _fail(self, token: Token, problem: str) -> None:
        shown = token.text or "end of query"
        raise InvalidArgument(
            f"filter_query: {problem} at position {token.position} (found {shown!r})"
        )

    # -- grammar ---------------------------------------------------------------------------
    def compile(self) -> Select[Any]:
        """``SELECT id FROM nodes [JOIN contexts per alias] WHERE <filter>``."""
        condition = self._or()
        if self._peek().kind != "end":
            self._fail(self._peek(), "unexpected token")
        table = self.nodes.table
        statement = select(table.c.id).select_from(table)
        for link, context in self.context_aliases.values():
            node_column = (
                link.c.artifact_id if self.nodes.kind == "artifact" else link.c.execution_id
            )
            statement = statement.join(link, node_column == table.c.id).join(
                context, context.c.id == link.c.context_id
            )
        return statement.where(condition)

    def _or(self) -> ColumnElement[bool]:
        parts = [self._and()]
        while self._is_word("OR"):
            self._next()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def _and(self) -> ColumnElement[bool]:
        parts = [self._unary()]
        while self._is_word("AND"):
            self._next()
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def _unary(self) -> ColumnElement[bool]:
        if self._is_word("NOT"):
            self._next()
            return not_(self._unary())
        token = self._peek()
        if token.kind == "op" and token.text == "(":
            self._next()
            inner = self._or()
            self._expect_op(")")
            return inner
        return self._comparison()

    def _path(self) -> list[tuple[str, Token]]:
        parts: list[tuple[str, Token]] = []
        while True:
            token = self._next()
            if token.kind == "word" and token.text.upper() not in _KEYWORDS:
                parts.append((token.text, token))
            elif token.kind == "quoted":
                parts.append((token.text[1:-1], token))
            else:
                self._fail(token, "expected a field name")
            following = self._peek()
            if following.kind == "op" and following.text == ".":
                self._next()
                continue
            return parts

    def _literal(self) -> Any:
        token = self._next()
        if token.kind == "string":
            body = token.text[1:-1]
            return re.sub(r"\\(.)", r"\1", body)
        if token.kind == "number":
            return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
        if token.kind == "word" and token.text.upper() in ("TRUE", "FALSE"):
            return token.text.upper() == "TRUE"
        if token.kind == "word" and token.text.upper() not in _KEYWORDS:
            return _EnumName(token.text, token)
        self._fail(token, "expected a value")
        raise AssertionError  # pragma: no cover - _fail raises

    def _comparison(self) -> ColumnElement[bool]:
        start = self._peek()
        path = self._path()
        column, wrap, enum = self._column(path, start)
        token = self._next()
        if token.kind == "word" and token.text.upper() == "IS":
            negate = False
            if self._is_word("NOT"):
                self._next()
                negate = True
            if not self._is_word("NULL"):
                self._fail(self._peek(), "expected NULL")
            self._next()
            return wrap(column.is_not(None) if negate else column.is_(None))
        if token.kind == "word" and token.text.upper() == "NOT" and self._is_word("IN"):
            self._next()
            return wrap(column.not_in(self._value_list(enum)))
        if token.kind == "word" and token.text.upper() == "IN":
            return wrap(column.in_(self._value_list(enum)))
        if token.kind == "word" and token.text.upper() == "LIKE":
            value = self._literal()
            if not isinstance(value, str):
                self._fail(token, "LIKE needs a string")
            return wrap(column.like(value))
        if token.kind != "op" or token.text not in ("=", "!=", "<>", "<", "<=", ">", ">="):
            self._fail(token, "expected a comparison operator")
        value = self._resolve(self._literal(), enum)
        operators = {
            "=": column.__eq__,
            "!=": column.__ne__,
            "<>": column.__ne__,
            "<": column.__lt__,
            "<=": column.__le__,
            ">": column.__gt__,
            ">=": column.__ge__,
        }
        return wrap(operators[token.text](value))

    def _value_list(self, enum: Any) -> list[Any]:
        self._expect_op("(")
        values = [self._resolve(self._literal(), enum)]
        while self._peek().kind == "op" and self._peek().text == ",":
            self._next()
            values.append(self._resolve(self._literal(), enum))
        self._expect_op(")")
        return values

    def _resolve(self, value: Any, enum: Any) -> Any:
        if isinstance(value, _EnumName):
            if enum is None:
                self._fail(value.token, "expected a quoted string, a number or TRUE/FALSE")
            try:
                return int(enum.Value(value.name))
            except ValueError:
                self._fail(value.token, f"unknown state {value.name}")
        return value

    # -- fields ----------------------------------------------------------------------------
    def _column(
        self, path: list[tuple[str, Token]], start: Token
    ) -> tuple[ColumnElement[Any], Any, Any]:
        """(column, wrap(predicate) -> condition, enum for state names)."""
        names = [name for name, _ in path]
        table = self.nodes.table
        identity = _identity
        if len(names) == 1:
            return self._attribute(table, names[0], path[0][1], self.nodes.type_kind)
        head = names[0]
        if head in ("properties", "custom_properties"):
            if len(names) != 3 or names[2] not in _VALUE_COLUMNS:
                self._fail(start, f"expected {head}.<name>.<int|double|string|bool>_value")
            props = self.nodes.properties.alias()
            column = props.c[_VALUE_COLUMNS[names[2]]]

            def wrap(predicate: ColumnElement[bool]) -> ColumnElement[bool]:
                return exists().where(
                    props.c.node_id == table.c.id,
                    props.c.name == names[1],
                    props.c.is_custom == (head == "custom_properties"),
                    predicate,
                )

            return column, wrap, None
        if head.startswith("contexts_") and self.nodes.kind in ("artifact", "execution"):
            if len(names) != 2:
                self._fail(start, "expected contexts_<alias>.<attribute>")
            if head not in self.context_aliases:
                link_row = AttributionRow if self.nodes.kind == "artifact" else AssociationRow
                self.context_aliases[head] = (
                    link_row.__table__.alias(),
                    ContextRow.__table__.alias(),
                )
            context = self.context_aliases[head][1]
            context_column, _, enum = self._attribute(context, names[1], path[1][1], 2)
            return context_column, identity, enum
        self._fail(start, f"unsupported field {'.'.join(names)!r}")
        raise AssertionError  # pragma: no cover

    def _attribute(
        self, table: Any, name: str, token: Token, type_kind: int
    ) -> tuple[ColumnElement[Any], Any, Any]:
        if name == "type":
            types = TypeRow.__table__
            type_name = types.c.name

            def wrap(predicate: ColumnElement[bool]) -> ColumnElement[bool]:
                return exists().where(
                    types.c.id == table.c.type_id, types.c.kind == type_kind, predicate
                )

            return type_name, wrap, None
        allowed = {
            "id",
            "name",
            "type_id",
            "external_id",
            "create_time_since_epoch",
            "last_update_time_since_epoch",
        }
        if "uri" in table.c:
            allowed |= {"uri", "state"}
        if "last_known_state" in table.c:
            allowed.add("last_known_state")
        if name not in allowed:
            self._fail(token, f"unsupported attribute {name!r}")
        return table.c[name], _identity, _ENUMS.get(name)


@dataclass(frozen=True)
class _EnumName:
    name: str
    token: Token


def _identity(predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    return predicate


def matching_ids(query: str, nodes: NodeTables) -> Select[Any]:
    """A ``SELECT id`` of the nodes the filter selects (blank: every node)."""
    if not query.strip():
        return select(nodes.table.c.id).where(true())
    return FilterCompiler(query, nodes).compile()
