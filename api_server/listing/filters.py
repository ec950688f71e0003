"""Parsing the ``filter`` query parameter of List calls into typed predicates.

The wire format is the JSON form of a KFP ``Filter`` message: ``{"predicates": [...]}``,
predicates AND-ed, each with ``key``, ``operation`` and exactly one value field. Clients
write it through protobuf JSON, so both camelCase and snake_case field names occur and
``operation`` may be an enum name or number.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote_plus

from domain.errors import InvalidArgument

from .fields import Field, FieldKind, ResourceFields


class Op(enum.Enum):
    """Predicate operations, numbered as in the proto (4 is unused, 0 is unspecified)."""

    EQUALS = 1
    NOT_EQUALS = 2
    GREATER_THAN = 3
    GREATER_THAN_EQUALS = 5
    LESS_THAN = 6
    LESS_THAN_EQUALS = 7
    IN = 8
    IS_SUBSTRING = 9


_ORDERING_OPS = frozenset(
    {Op.GREATER_THAN, Op.GREATER_THAN_EQUALS, Op.LESS_THAN, Op.LESS_THAN_EQUALS}
)


@dataclass(frozen=True)
class Predicate:
    """One parsed condition.

    ``value`` is typed by the field kind: ``str`` (STRING, and ENUM as its wire name),
    ``int`` (INT), aware UTC ``datetime`` (TIMESTAMP) or ``bool`` (BOOL); for ``Op.IN`` it
    is a tuple of those.
    """

    key: str
    op: Op
    value: object


# Canonical (snake_case) value-field name for every spelling a client may use.
_VALUE_ALIASES: dict[str, str] = {}
for _name in (
    "string_value",
    "int_value",
    "long_value",
    "timestamp_value",
    "int_values",
    "long_values",
    "string_values",
):
    _head, _, _tail = _name.partition("_")
    _VALUE_ALIASES[_name] = _name
    _VALUE_ALIASES[_head + _tail.capitalize()] = _name

_LIST_FIELDS = frozenset({"int_values", "long_values", "string_values"})

# Which value fields each kind accepts, in the order they are suggested in messages.
_SCALAR_FIELDS: dict[FieldKind, tuple[str, ...]] = {
    FieldKind.STRING: ("string_value",),
    FieldKind.INT: ("int_value", "long_value"),
    FieldKind.TIMESTAMP: ("timestamp_value", "int_value", "long_value"),
    FieldKind.ENUM: ("string_value", "int_value", "long_value"),
    FieldKind.BOOL: ("string_value", "int_value", "long_value"),
}
_LIST_FIELDS_BY_KIND: dict[FieldKind, tuple[str, ...]] = {
    FieldKind.STRING: ("string_values",),
    FieldKind.INT: ("int_values", "long_values"),
    FieldKind.TIMESTAMP: ("int_values", "long_values"),
    FieldKind.ENUM: ("string_values", "int_values", "long_values"),
    FieldKind.BOOL: ("string_values", "int_values", "long_values"),
}

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def _op_list() -> str:
    return ", ".join(op.name for op in Op)


def parse_filter(raw: str | None, fields: ResourceFields) -> tuple[Predicate, ...]:
    """Parse a ``filter`` parameter into predicates, validated against ``fields``.

    ``raw`` is the JSON text as the web framework delivers it (already URL-decoded once);
    a still percent-encoded string is tolerated. Empty or ``None`` means no predicates.
    Raises ``InvalidArgument`` naming the offending predicate and problem.
    """
    if raw is None or not raw.strip():
        return ()
    document = _load_json(raw)
    if document is None:
        return ()
    if not isinstance(document, dict):
        raise InvalidArgument('filter: must be a JSON object like {"predicates": [...]}')
    for top_key in document:
        if top_key != "predicates":
            raise InvalidArgument(
                f"filter: unexpected field {top_key!r} (only 'predicates' is allowed)"
            )
    items = document.get("predicates")
    if items is None:
        return ()
    if not isinstance(items, list):
        raise InvalidArgument("filter: 'predicates' must be a list")
    return tuple(_parse_predicate(i, item, fields) for i, item in enumerate(items))


def _load_json(raw: str) -> object:
    try:
        return json.loads(raw)
    except ValueError as first_error:
        # A client that URL-encoded twice leaves one layer for us; '+' was a space then.
        if "%" in raw:
            try:
                return json.loads(unquote_plus(raw))
            except ValueError:
                pass
        raise InvalidArgument(f"filter: not valid JSON: {first_error}") from None


def _parse_predicate(index: int, item: object, fields: ResourceFields) -> Predicate:
    where = f"filter: predicates[{index}]"
    if not isinstance(item, dict):
        raise InvalidArgument(f"{where}: must be a JSON object")

    values: dict[str, object] = {}
    key: object = None
    operation: object = None
    for name, raw_value in item.items():
        if name == "key":
            key = raw_value
        elif name == "operation":
            operation = raw_value
        elif name in _VALUE_ALIASES:
            # Protobuf JSON treats null as "field not set".
            if raw_value is not None:
                canonical = _VALUE_ALIASES[name]
                if canonical in values:
                    raise InvalidArgument(f"{where}: {canonical} is given twice")
                values[canonical] = raw_value
        else:
            raise InvalidArgument(f"{where}: unknown field {name!r}")

    if key is None or key == "":
        raise InvalidArgument(f"{where}: key is missing")
    if not isinstance(key, str):
        raise InvalidArgument(f"{where}: key must be a string")
    field = fields.get(key)
    if field is None:
        allowed = ", ".join(sorted(fields))
        raise InvalidArgument(
            f"filter: unknown key {key!r} (allowed: {allowed}) in predicates[{index}]"
        )

    op = _parse_operation(where, operation)
    _check_op_for_kind(where, key, op, field)

    wanted = _LIST_FIELDS_BY_KIND[field.kind] if op is Op.IN else _SCALAR_FIELDS[field.kind]
    if not values:
        raise InvalidArgument(f"{where}: key {key!r} needs one of {'/'.join(wanted)}")
    if len(values) > 1:
        raise InvalidArgument(
            f"{where}: has {len(values)} value fields ({', '.join(values)}); exactly one is allowed"
        )
    ((value_field, raw_value),) = values.items()
    if op is Op.IN and value_field not in _LIST_FIELDS:
        raise InvalidArgument(
            f"{where}: operation IN needs a list value ({'/'.join(wanted)}), got {value_field}"
        )
    if op is not Op.IN and value_field in _LIST_FIELDS:
        raise InvalidArgument(
            f"{where}: operation {op.name} needs a single value ({'/'.join(wanted)}), "
            f"got {value_field}"
        )
    if value_field not in wanted:
        raise InvalidArgument(
            f"{where}: key {key!r} does not accept {value_field} (use {'/'.join(wanted)})"
        )

    if op is Op.IN:
        elements = _list_elements(where, value_field, raw_value)
        scalar_field = value_field[:-1]  # "string_values" -> "string_value"
        typed = tuple(
            _typed_value(f"{where}: {value_field}[{n}]", key, field, scalar_field, element)
            for n, element in enumerate(elements)
        )
        return Predicate(key=key, op=op, value=typed)
    return Predicate(
        key=key,
        op=op,
        value=_typed_value(f"{where}: {value_field}", key, field, value_field, raw_value),
    )


def _parse_operation(where: str, operation: object) -> Op:
    if operation is None:
        raise InvalidArgument(f"{where}: operation is missing")
    number: int | None = None
    if isinstance(operation, bool):
        number = None
    elif isinstance(operation, int):
        number = operation
    elif isinstance(operation, str):
        text = operation.strip()
        if _INT_TEXT.fullmatch(text):
            number = int(text)
        else:
            try:
                return Op[text.upper()]
            except KeyError:
                pass
    if number is not None:
        try:
            return Op(number)
        except ValueError:
            pass
    raise InvalidArgument(
        f"{where}: operation {operation!r} is not one of {_op_list()} (or their numbers)"
    )


def _check_op_for_kind(where: str, key: str, op: Op, field: Field) -> None:
    if op is Op.IS_SUBSTRING and field.kind is not FieldKind.STRING:
        raise InvalidArgument(
            f"{where}: operation IS_SUBSTRING only works on text keys; "
            f"{key!r} is {field.kind.value}"
        )
    # Ordering an enum would compare its stored names alphabetically, which means nothing.
    if op in _ORDERING_OPS and field.kind in (FieldKind.BOOL, FieldKind.ENUM):
        raise InvalidArgument(
            f"{where}: operation {op.name} does not apply to {key!r} ({field.kind.value}); "
            "use EQUALS, NOT_EQUALS or IN"
        )


def _list_elements(where: str, value_field: str, raw_value: object) -> list[object]:
    # Protobuf JSON wraps lists as {"values": [...]}; a bare list is accepted too.
    if isinstance(raw_value, dict):
        extra = [k for k in raw_value if k != "values"]
        if extra:
            raise InvalidArgument(
                f'{where}: {value_field} must look like {{"values": [...]}}, '
                f"found field {extra[0]!r}"
            )
        raw_value = raw_value.get("values")
        if raw_value is None:
            return []
    if not isinstance(raw_value, list):
        raise InvalidArgument(f'{where}: {value_field} must look like {{"values": [...]}}')
    return raw_value


def _typed_value(where: str, key: str, field: Field, value_field: str, raw: object) -> object:
    """Convert one wire value (from ``value_field``) to the Python type of ``field``."""
    if value_field == "string_value":
        if not isinstance(raw, str):
            raise InvalidArgument(f"{where}: must be a string, got {raw!r}")
        return _from_text(where, key, field, raw)
    if value_field == "timestamp_value":
        if not isinstance(raw, str):
            raise InvalidArgument(f"{where}: must be an RFC 3339 string, got {raw!r}")
        return parse_rfc3339(raw, where)
    bounds = _INT32 if value_field == "int_value" else _INT64
    return _from_int(where, key, field, _wire_int(where, raw, bounds))


def _from_text(where: str, key: str, field: Field, text: str) -> object:
    if field.kind is FieldKind.STRING:
        return text
    if field.kind is FieldKind.ENUM:
        if text and text in field.enum_names:
            return text
        names = ", ".join(n for n in field.enum_names if n)
        raise InvalidArgument(f"{where}: {text!r} is not a value of {key!r} (one of {names})")
    if field.kind is FieldKind.BOOL:
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise InvalidArgument(f"{where}: {key!r} needs 'true' or 'false', got {text!r}")
    raise InvalidArgument(f"{where}: {key!r} does not take a string")  # pragma: no cover


def _from_int(where: str, key: str, field: Field, number: int) -> object:
    if field.kind is FieldKind.INT:
        return number
    if field.kind is FieldKind.TIMESTAMP:
        try:
            return datetime.fromtimestamp(number, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidArgument(f"{where}: {number} is out of range for Unix seconds") from None
    if field.kind is FieldKind.ENUM:
        if 0 <= number < len(field.enum_names) and field.enum_names[number]:
            return field.enum_names[number]
        raise InvalidArgument(f"{where}: {number} is not a value number of {key!r}")
    if field.kind is FieldKind.BOOL:
        if number in (0, 1):
            return number == 1
        raise InvalidArgument(f"{where}: {key!r} needs 0 or 1, got {number}")
    raise InvalidArgument(f"{where}: {key!r} does not take a number")  # pragma: no cover


def _wire_int(where: str, raw: object, bounds: tuple[int, int]) -> int:
    # Protobuf JSON writes 64-bit integers as strings and allows numbers for both widths.
    number: int | None = None
    if isinstance(raw, bool):
        number = None
    elif isinstance(raw, int):
        number = raw
    elif isinstance(raw, float) and raw.is_integer():
        number = int(raw)
    elif isinstance(raw, str) and _INT_TEXT.fullmatch(raw.strip()):
        number = int(raw.strip())
    if number is None:
        raise InvalidArgument(f"{where}: must be an integer, got {raw!r}")
    if not bounds[0] <= number <= bounds[1]:
        raise InvalidArgument(f"{where}: {number} is out of range")
    return number


def parse_rfc3339(text: str, where: str = "timestamp") -> datetime:
    """Parse an RFC 3339 timestamp (offset required) into an aware UTC datetime.

    Fractional seconds beyond microseconds are truncated, as the store keeps microseconds.
    """
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise InvalidArgument(
            f"{where}: {text!r} is not an RFC 3339 timestamp like '2026-01-02T03:04:05Z'"
        )
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7) or ""
    micros = int((fraction + "000000")[:6])
    if match.group(8):
        tz = UTC
    else:
        sign = -1 if match.group(9) == "-" else 1
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        tz = timezone(sign * offset)
    try:
        # RFC 3339 allows a leap second (:60); the store cannot, so it rolls over.
        leap = second == 60
        parsed = datetime(year, month, day, hour, minute, 59 if leap else second, micros, tzinfo=tz)
        if leap:
            parsed += timedelta(seconds=1)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{where}: {text!r} is not a valid date and time") from None
