"""Trigger conditions of the pipeline IR, evaluated without ``eval``.

The kfp compiler turns ``dsl.If``/``dsl.Elif``/``dsl.Else`` (and the older ``dsl.Condition``)
into a CEL expression on the condition group's task, for example::

    inputs.parameter_values['pipelinechannel--flip-coin-Output'] == 'heads'
    !(int(inputs.parameter_values['pipelinechannel--n']) == 3) && inputs.parameter_values[...] < 0.5
    double(int(inputs.parameter_values['pipelinechannel--i'])) == inputs.parameter_values[...]

KFP evaluates these with a CEL engine; pipeline text is untrusted, so this module implements
the subset the compiler emits with its own tokenizer and recursive-descent parser:

* ``inputs.parameter_values['name']`` (and ``inputs.parameters['name']`` with the
  ``.string_value``/``.number_value``/``.int_value``/``.double_value``/``.bool_value``
  selectors of older compilers), index and field selection on maps and lists;
* the conversions ``int()``, ``double()``, ``string()``, ``bool()``;
* ``==  !=  <  <=  >  >=  in``, ``!``, unary ``-``, ``&&``, ``||``, parentheses;
* string (single, double, triple-quoted, raw), integer, float, ``true``/``false``/``null``
  and list literals.

Anything else is a :class:`ConditionError` carrying the offset in the expression.

Semantics follow CEL: ints and doubles compare numerically with each other; ``==`` between
values of different kinds (``'3' == 3``, ``true == 1``) is false, while ordering them
(``'3' < 4``) is an error; ``&&`` and ``||`` absorb an error when the other side decides
the result (``false && <error>`` is false), and ``!``, ``&&``, ``||`` accept only bools.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["ConditionError", "evaluate_condition", "parse_condition"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_MAX_EXPRESSION_CHARS = 100_000
_MAX_DEPTH = 64


class ConditionError(ValueError):
    """A condition that cannot be parsed or evaluated; ``position`` is a 0-based offset."""

    def __init__(self, message: str, position: int, expression: str) -> None:
        super().__init__(f"trigger condition: {message} at position {position}: {expression!r}")
        self.reason = message
        self.position = position
        self.expression = expression


class _EvalError(Exception):
    """A CEL runtime error value; ``&&``/``||`` may absorb it, otherwise it surfaces."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "int", "float", "string", "ident", "op", "end"
    value: Any
    position: int


_OPERATORS = ("&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "-", "(", ")", "[", "]", ".", ",")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FLOAT = re.compile(r"(?:[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)")
_HEX_INT = re.compile(r"0[xX][0-9a-fA-F]+")
_DEC_INT = re.compile(r"[0-9]+")
_DIGITS = "0123456789"
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char in " \t\r\n\f":
            i += 1
            continue
        start = i
        if char in "'\"" or (char in "rR" and i + 1 < n and text[i + 1] in "'\""):
            value, i = _read_string(text, i)
            tokens.append(_Token("string", value, start))
            continue
        if char in _DIGITS or (char == "." and i + 1 < n and text[i + 1] in _DIGITS):
            token, i = _read_number(text, i)
            tokens.append(token)
            continue
        ident = _IDENT.match(text, i)
        if ident:
            tokens.append(_Token("ident", ident.group(), start))
            i = ident.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(_Token("op", op, start))
                i += len(op)
                break
        else:
            raise ConditionError(f"unexpected character {char!r}", i, text)
    tokens.append(_Token("end", None, n))
    return tokens


def _read_number(text: str, i: int) -> tuple[_Token, int]:
    match = _FLOAT.match(text, i)
    if match:
        return _Token("float", float(match.group()), i), match.end()
    match = _HEX_INT.match(text, i) or _DEC_INT.match(text, i)
    assert match is not None  # the caller saw a digit
    end = match.end()
    if end < len(text) and text[end] in "uU":
        raise ConditionError("unsigned integer literals are not supported", i, text)
    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
        raise ConditionError(f"malformed number {text[i : end + 1]!r}", i, text)
    value = int(match.group(), 0) if match.group()[:2] in ("0x", "0X") else int(match.group())
    # The range is checked by the parser, which knows whether a minus sign precedes it.
    return _Token("int", value, i), end


def _read_string(text: str, i: int) -> tuple[str, int]:
    start = i
    raw = text[i] in "rR"
    if raw:
        i += 1
    quote = text[i]
    delimiter = quote * 3 if text.startswith(quote * 3, i) else quote
    i += len(delimiter)
    parts: list[str] = []
    n = len(text)
    while True:
        if i >= n:
            raise ConditionError("unterminated string literal", start, text)
        if text.startswith(delimiter, i):
            return "".join(parts), i + len(delimiter)
        char = text[i]
        if char in "\r\n" and len(delimiter) == 1:
            raise ConditionError("newline in a string literal", i, text)
        if char == "\\" and not raw:
            decoded, i = _read_escape(text, i)
            parts.append(decoded)
            continue
        parts.append(char)
        i += 1


def _read_escape(text: str, i: int) -> tuple[str, int]:
    if i + 1 >= len(text):
        raise ConditionError("unterminated escape sequence", i, text)
    kind = text[i + 1]
    if kind in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[kind], i + 2
    widths = {"x": 2, "X": 2, "u": 4, "U": 8}
    if kind in widths:
        digits = text[i + 2 : i + 2 + widths[kind]]
        if len(digits) != widths[kind] or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise ConditionError(f"malformed \\{kind} escape", i, text)
        code = int(digits, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise ConditionError(f"invalid code point in \\{kind} escape", i, text)
        return chr(code), i + 2 + widths[kind]
    digits = text[i + 1 : i + 4]
    if len(digits) == 3 and digits[0] in "0123" and all(c in "01234567" for c in digits):
        return chr(int(digits, 8)), i + 4
    raise ConditionError(f"invalid escape sequence \\{kind}", i, text)


# --- syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    position: int


@dataclass(frozen=True)
class _Literal(_Node):
    value: Any


@dataclass(frozen=True)
class _Inputs(_Node):
    """The ``inputs`` variable."""


@dataclass(frozen=True)
class _ListLiteral(_Node):
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Select(_Node):
    operand: _Node
    field: str


@dataclass(frozen=True)
class _Index(_Node):
    operand: _Node
    index: _Node


@dataclass(frozen=True)
class _Call(_Node):
    function: str
    argument: _Node


@dataclass(frozen=True)
class _Unary(_Node):
    operator: str
    operand: _Node


@dataclass(frozen=True)
class _Binary(_Node):
    operator: str
    left: _Node
    right: _Node


_RELATIONS = ("==", "!=", "<", "<=", ">", ">=", "in")


class _Parser:
    """Recursive descent over CEL's precedence: ``||`` < ``&&`` < relations < unary < member."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.at = 0
        self.depth = 0

    def parse(self) -> _Node:
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise self._error(f"unexpected {_describe(token)}", token)
        return node

    # helpers
    def _peek(self) -> _Token:
        return self.tokens[self.at]

    def _next(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _accept(self, op: str) -> _Token | None:
        token = self._peek()
        if token.kind == "op" and token.value == op:
            self.at += 1
            return token
        return None

    def _expect(self, op: str) -> _Token:
        token = self._accept(op)
        if token is None:
            found = self._peek()
            raise self._error(f"expected {op!r}, found {_describe(found)}", found)
        return token

    def _error(self, message: str, token: _Token) -> ConditionError:
        return ConditionError(message, token.position, self.text)

    def _descend(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self._error("expression is nested too deeply", self._peek())

    # grammar
    def _or(self) -> _Node:
        node = self._and()
        while token := self._accept("||"):
            node = _Binary(token.position, "||", node, self._and())
        return node

    def _and(self) -> _Node:
        node = self._relation()
        while token := self._accept("&&"):
            node = _Binary(token.position, "&&", node, self._relation())
        return node

    def _relation(self) -> _Node:
        node = self._unary()
        while True:
            token = self._peek()
            is_relation = (token.kind == "op" and token.value in _RELATIONS) or (
                token.kind == "ident" and token.value == "in"
            )
            if not is_relation:
                return node
            self.at += 1
            node = _Binary(token.position, token.value, node, self._unary())

    def _unary(self) -> _Node:
        token = self._peek()
        if token.kind == "op" and token.value in ("!", "-"):
            self.at += 1
            literal = self._peek()
            if token.value == "-" and literal.kind in ("int", "float"):
                # A negative literal: -9223372036854775808 is in range, its magnitude is not.
                node = self._member()
                if isinstance(node, _Literal):
                    return self._checked(_Literal(token.position, -node.value), token)
                return _Unary(token.position, "-", self._checked(node, literal))
            self._descend()
            operand = self._unary()
            self.depth -= 1
            return _Unary(token.position, token.value, operand)
        return self._checked(self._member(), token)

    def _checked(self, node: _Node, token: _Token) -> _Node:
        value = node.value if isinstance(node, _Literal) else None
        if _is_number(value) and isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
            raise self._error("integer literal out of range", token)
        return node

    def _member(self) -> _Node:
        node = self._primary()
        while True:
            if token := self._accept("."):
                name = self._next()
                if name.kind != "ident":
                    raise self._error(f"expected a field name, found {_describe(name)}", name)
                node = _Select(token.position, node, name.value)
            elif token := self._accept("["):
                self._descend()
                index = self._or()
                self.depth -= 1
                self._expect("]")
                node = _Index(token.position, node, index)
            else:
                return node

    def _primary(self) -> _Node:
        token = self._next()
        if token.kind in ("int", "float", "string"):
            return _Literal(token.position, token.value)
        if token.kind == "ident":
            return self._identifier(token)
        if token.kind == "op" and token.value == "(":
            self._descend()
            node = self._or()
            self.depth -= 1
            self._expect(")")
            return node
        if token.kind == "op" and token.value == "[":
            return self._list(token)
        raise self._error(f"unexpected {_describe(token)}", token)

    def _identifier(self, token: _Token) -> _Node:
        name = token.value
        if name in _CONSTANTS:
            return _Literal(token.position, _CONSTANTS[name])
        if self._accept("("):
            if name not in _CONVERSIONS:
                raise self._error(f"unsupported function {name!r}", token)
            self._descend()
            argument = self._or()
            self.depth -= 1
            if self._peek().kind == "op" and self._peek().value == ",":
                raise self._error(f"{name}() takes exactly one argument", self._peek())
            self._expect(")")
            return _Call(token.position, name, argument)
        if name == "inputs":
            return _Inputs(token.position)
        raise self._error(f"unknown identifier {name!r}", token)

    def _list(self, opening: _Token) -> _Node:
        items: list[_Node] = []
        self._descend()
        if not self._accept("]"):
            while True:
                items.append(self._or())
                if self._accept("]"):
                    break
                self._expect(",")
                if self._accept("]"):  # CEL allows a trailing comma
                    break
        self.depth -= 1
        return _ListLiteral(opening.position, tuple(items))


_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "end of expression"
    if token.kind == "string":
        return f"string {token.value!r}"
    return f"{token.value!r}"


# --- values ------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "map"
    return type(value).__name__


def _equals(left: Any, right: Any) -> bool:
    """CEL heterogeneous equality: numbers across int/double, otherwise same kind only."""
    if _is_number(left) and _is_number(right):
        return bool(left == right)  # NaN != NaN, as in CEL
    if _type_name(left) != _type_name(right):
        return False
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(
            _equals(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping):
        return left.keys() == right.keys() and all(_equals(left[k], right[k]) for k in left)
    return bool(left == right)


def _order(operator: str, left: Any, right: Any, position: int) -> bool:
    comparable = (
        (_is_number(left) and _is_number(right))
        or (isinstance(left, str) and isinstance(right, str))
        or (isinstance(left, bool) and isinstance(right, bool))
    )
    if not comparable:
        raise _EvalError(
            f"no such overload: {_type_name(left)} {operator} {_type_name(right)}", position
        )
    if operator == "<":
        return bool(left < right)
    if operator == "<=":
        return bool(left <= right)
    if operator == ">":
        return bool(left > right)
    return bool(left >= right)


_INT_STRING = re.compile(r"[+-]?[0-9]+")
_DOUBLE_STRING = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)
_BOOL_STRINGS = {
    **dict.fromkeys(("1", "t", "true", "TRUE", "True"), True),
    **dict.fromkeys(("0", "f", "false", "FALSE", "False"), False),
}


def _to_int(value: Any, position: int) -> int:
    if isinstance(value, bool):
        raise _EvalError("no such overload: int(bool)", position)
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise _EvalError(f"int() cannot convert {value!r}", position)
        result = int(value)  # truncates toward zero, as CEL does
    elif isinstance(value, str):
        if not _INT_STRING.fullmatch(value):
            raise _EvalError(f"int() cannot parse {value!r}", position)
        result = int(value)
    else:
        raise _EvalError(f"no such overload: int({_type_name(value)})", position)
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise _EvalError("int() result out of range", position)
    return result


def _to_double(value: Any, position: int) -> float:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        if not _DOUBLE_STRING.fullmatch(value):
            raise _EvalError(f"double() cannot parse {value!r}", position)
        return float(value)
    raise _EvalError(f"no such overload: double({_type_name(value)})", position)


def _to_string(value: Any, position: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_double(value)
    raise _EvalError(f"no such overload: string({_type_name(value)})", position)


def _to_bool(value: Any, position: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _BOOL_STRINGS:
        return _BOOL_STRINGS[value]
    if isinstance(value, str):
        raise _EvalError(f"bool() cannot parse {value!r}", position)
    raise _EvalError(f"no such overload: bool({_type_name(value)})", position)


_CONVERSIONS: dict[str, Callable[[Any, int], Any]] = {
    "int": _to_int,
    "double": _to_double,
    "string": _to_string,
    "bool": _to_bool,
}


def format_double(value: float) -> str:
    """A double as CEL's ``string()`` prints it: Go's shortest ``%g`` (``3``, ``1.5``,
    ``100000``, ``1e+06``, ``1e-05``), so a condition compares the same text KFP would."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    # repr() gives the shortest digits that round-trip; Decimal splits them from the exponent.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    assert isinstance(exponent, int)
    point = len(digits) + exponent  # value == 0.<digits> * 10**point
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if point - 1 < 0 else '+'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


# --- evaluation --------------------------------------------------------------------------

# Older compilers read typed fields of a parameter value: ``...['x'].string_value``.
_VALUE_SELECTORS: dict[str, Callable[[Any], bool]] = {
    "string_value": lambda v: isinstance(v, str),
    "number_value": _is_number,
    "double_value": _is_number,
    "int_value": lambda v: _is_number(v) and float(v).is_integer(),
    "bool_value": lambda v: isinstance(v, bool),
}


class _Evaluator:
    def __init__(self, parameters: Mapping[str, Any]) -> None:
        self.parameters = parameters

    def evaluate(self, node: _Node) -> Any:
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Binary):
            return self._binary(node)
        if isinstance(node, _Unary):
            return self._unary(node)
        if isinstance(node, _Call):
            return _CONVERSIONS[node.function](self.evaluate(node.argument), node.position)
        if isinstance(node, _Index):
            return self._index(node)
        if isinstance(node, _Select):
            return self._select(node)
        if isinstance(node, _ListLiteral):
            return [self.evaluate(item) for item in node.items]
        if isinstance(node, _Inputs):
            raise _EvalError("'inputs' must be followed by .parameter_values[...]", node.position)
        raise AssertionError(f"unknown node {node!r}")

    def _binary(self, node: _Binary) -> Any:
        if node.operator in ("&&", "||"):
            return self._logical(node)
        left = self.evaluate(node.left)
        right = self.evaluate(node.right)
        if node.operator == "==":
            return _equals(left, right)
        if node.operator == "!=":
            return not _equals(left, right)
        if node.operator == "in":
            return self._contains(right, left, node.position)
        return _order(node.operator, left, right, node.position)

    def _logical(self, node: _Binary) -> bool:
        # CEL's commutative short-circuit: a deciding operand wins over an error on the other.
        deciding = node.operator == "||"
        error: _EvalError | None = None
        for side in (node.left, node.right):
            try:
                value = self.evaluate(side)
            except _EvalError as exc:
                error = error or exc
                continue
            if not isinstance(value, bool):
                error = error or _EvalError(
                    f"no such overload: {node.operator} on {_type_name(value)}", side.position
                )
                continue
            if value is deciding:
                return deciding
        if error is not None:
            raise error
        return not deciding

    def _unary(self, node: _Unary) -> Any:
        value = self.evaluate(node.operand)
        if node.operator == "!":
            if not isinstance(value, bool):
                raise _EvalError(f"no such overload: !{_type_name(value)}", node.position)
            return not value
        if not _is_number(value):
            raise _EvalError(f"no such overload: -{_type_name(value)}", node.position)
        if isinstance(value, int) and -value > _INT64_MAX:
            raise _EvalError("integer overflow", node.position)
        return -value

    def _contains(self, container: Any, item: Any, position: int) -> bool:
        if isinstance(container, list | tuple):
            return any(_equals(item, element) for element in container)
        if isinstance(container, Mapping):
            return any(_equals(item, key) for key in container)
        raise _EvalError(f"no such overload: in {_type_name(container)}", position)

    def _index(self, node: _Index) -> Any:
        if isinstance(node.operand, _Select) and isinstance(node.operand.operand, _Inputs):
            container: Any = self._inputs_field(node.operand)
        else:
            container = self.evaluate(node.operand)
        key = self.evaluate(node.index)
        if isinstance(container, Mapping):
            if not isinstance(key, str):
                raise _EvalError(f"map key must be a string, not {_type_name(key)}", node.position)
            if key not in container:
                raise _EvalError(f"no such key: {key!r}", node.position)
            return container[key]
        if isinstance(container, list | tuple):
            if isinstance(key, float) and key.is_integer():
                key = int(key)
            if not isinstance(key, int) or isinstance(key, bool):
                raise _EvalError(f"list index must be an int, not {_type_name(key)}", node.position)
            if not 0 <= key < len(container):
                raise _EvalError(f"index out of range: {key}", node.position)
            return container[key]
        raise _EvalError(f"cannot index a {_type_name(container)}", node.position)

    def _inputs_field(self, node: _Select) -> Mapping[str, Any]:
        if node.field not in ("parameter_values", "parameters"):
            raise _EvalError(f"inputs has no field {node.field!r}", node.position)
        return self.parameters

    def _select(self, node: _Select) -> Any:
        if isinstance(node.operand, _Inputs):
            return self._inputs_field(node)
        value = self.evaluate(node.operand)
        if isinstance(value, Mapping):
            if node.field not in value:
                raise _EvalError(f"no such key: {node.field!r}", node.position)
            return value[node.field]
        check = _VALUE_SELECTORS.get(node.field)
        if check is None:
            raise _EvalError(f"a {_type_name(value)} has no field {node.field!r}", node.position)
        if not check(value):
            raise _EvalError(f"{node.field} of a {_type_name(value)} value", node.position)
        if node.field == "int_value":
            return int(value)
        if node.field == "double_value":
            return float(value)
        return value


@functools.lru_cache(maxsize=1024)
def parse_condition(expression: str) -> Callable[[Mapping[str, Any]], bool]:
    """Parse once, evaluate many times: returns ``evaluate(parameter_values) -> bool``.

    Parsed conditions are cached (a loop's iterations share one condition text). Raises
    :class:`ConditionError` for text outside the supported subset.
    """
    if len(expression) > _MAX_EXPRESSION_CHARS:
        raise ConditionError("expression is too long", _MAX_EXPRESSION_CHARS, expression[:80])
    tree = _Parser(expression).parse()

    def evaluate(parameters: Mapping[str, Any]) -> bool:
        try:
            result = _Evaluator(parameters).evaluate(tree)
        except _EvalError as exc:
            raise ConditionError(exc.message, exc.position, expression) from None
        if not isinstance(result, bool):
            raise ConditionError(
                f"condition is a {_type_name(result)}, not a bool", tree.position, expression
            )
        return result

    return evaluate


def evaluate_condition(expression: str, inputs: dict[str, Any]) -> bool:
    """Whether a task's ``triggerPolicy.condition`` holds.

    ``inputs`` are the task's resolved input parameter values by input name (what the
    expression reads as ``inputs.parameter_values``), e.g.
    ``{"pipelinechannel--flip-coin-Output": "heads"}``; numbers may be ``int`` or ``float``.
    Raises :class:`ConditionError` (with the offset) if the expression is outside the
    supported subset or fails at run time (a missing input, ``'a' < 1``, ``int('x')``).
    """
    return parse_condition(expression)(inputs)
