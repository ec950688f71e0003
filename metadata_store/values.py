"""Property values between ML-Metadata's ``Value`` message and property rows."""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from domain.errors import InvalidArgument

from .proto import metadata_store_pb2 as pb

# PropertyType numbers, which are also the ``kind`` column of property rows.
INT, DOUBLE, STRING, STRUCT, PROTO, BOOLEAN = 1, 2, 3, 4, 5, 6
_KIND_OF_FIELD = {
    "int_value": INT,
    "double_value": DOUBLE,
    "string_value": STRING,
    "struct_value": STRUCT,
    "proto_value": PROTO,
    "bool_value": BOOLEAN,
}


def value_kind(value: pb.Value) -> int | None:
    """The PropertyType of a value, or None when no value is set."""
    field = value.WhichOneof("value")
    return None if field is None else _KIND_OF_FIELD[field]


def property_row(node_id: int, name: str, value: pb.Value, *, custom: bool) -> dict[str, Any]:
    """The row of one property; an unset value is refused, naming the property."""
    kind = value_kind(value)
    row: dict[str, Any] = {
        "node_id": node_id,
        "name": name,
        "is_custom": custom,
        "kind": kind,
        "int_value": None,
        "double_value": None,
        "string_value": None,
        "bytes_value": None,
        "bool_value": None,
    }
    if kind is None:
        where = "custom_properties" if custom else "properties"
        raise InvalidArgument(f"{where}[{name!r}] has no value set")
    if kind == INT:
        row["int_value"] = value.int_value
    elif kind == DOUBLE:
        row["double_value"] = value.double_value
    elif kind == STRING:
        row["string_value"] = value.string_value
    elif kind == STRUCT:
        row["string_value"] = json_format.MessageToJson(
            value.struct_value, indent=None, sort_keys=True
        )
    elif kind == PROTO:
        row["string_value"] = value.proto_value.type_url
        row["bytes_value"] = value.proto_value.value
    else:
        row["bool_value"] = value.bool_value
    return row


def fill_value(target: pb.Value, row: Any) -> None:
    """Set ``target`` from a property row (anything with the property columns)."""
    kind = row.kind
    if kind == INT:
        target.int_value = row.int_value
    elif kind == DOUBLE:
        target.double_value = row.double_value
    elif kind == STRING:
        target.string_value = row.string_value
    elif kind == STRUCT:
        struct = Struct()
        json_format.Parse(row.string_value, struct)
        target.struct_value.CopyFrom(struct)
    elif kind == PROTO:
        target.proto_value.type_url = row.string_value
        target.proto_value.value = row.bytes_value
    elif kind == BOOLEAN:
        target.bool_value = bool(row.bool_value)


def python_property_row(node_id: int, name: str, value: Any, *, custom: bool) -> dict[str, Any]:
    """``property_row(node_id, name, python_value(value), custom=custom)``, the same row,
    without building messages for the usual values (the lineage recorder writes a few per
    task). Values a message would check or convert in ways of its own (out-of-range ints,
    non-ASCII text, NaN in a dict...) still take that path, so they fail as it fails."""
    cls = type(value)
    kind: int
    int_value = double_value = string_value = bool_value = None
    try:
        if cls is str:
            if not value.isascii():
                raise _NotPlain
            kind, string_value = STRING, value
        elif cls is bool:
            kind, bool_value = BOOLEAN, value
        elif cls is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise _NotPlain
            kind, int_value = INT, value
        elif cls is float:
            kind, double_value = DOUBLE, value
        elif cls is dict:
            # What MessageToJson(indent=None, sort_keys=True) writes for the Struct.
            kind, string_value = STRUCT, _struct_json(value)
        else:
            raise _NotPlain
    except _NotPlain:
        return property_row(node_id, name, python_value(value), custom=custom)
    return {
        "node_id": node_id,
        "name": name,
        "is_custom": custom,
        "kind": kind,
        "int_value": int_value,
        "double_value": double_value,
        "string_value": string_value,
        "bytes_value": None,
        "bool_value": bool_value,
    }


class _NotPlain(Exception):
    """A value python_property_row leaves to the messages."""


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EXACT_DOUBLE = 2**53
_LITERALS = {None: "null", True: "true", False: "false"}


def _struct_json(value: Any) -> str:
    """The JSON text ``MessageToJson(indent=None, sort_keys=True)`` writes for a Struct
    value filled from ``value`` (``json.dumps`` of it with numbers as doubles), or
    _NotPlain for anything the messages would check or convert."""
    cls = type(value)
    if cls is str:
        if not value.isascii():
            raise _NotPlain
        return _quote(value)
    if value is None or cls is bool:
        return _LITERALS[value]
    if cls is int:
        if not -_EXACT_DOUBLE <= value <= _EXACT_DOUBLE:
            raise _NotPlain
        return repr(float(value))
    if cls is float:
        if not math.isfinite(value):
            raise _NotPlain
        return repr(value)
    if cls is dict:
        for key in value:
            if type(key) is not str or not key.isascii():
                raise _NotPlain
        items = ", ".join(f"{_quote(k)}: {_struct_json(value[k])}" for k in sorted(value))
        return "{" + items + "}"
    if cls is list or cls is tuple:
        return "[" + ", ".join(_struct_json(item) for item in value) + "]"
    raise _NotPlain


def python_value(value: Any) -> pb.Value:
    """A ``Value`` for a plain Python value (the lineage recorder's parameters and metadata).

    Numbers, strings and booleans keep their kind and dicts become a Struct; anything else
    (lists, None) is stored as its JSON text, since a Struct's top level must be an object.
    """
    out = pb.Value()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, dict):
        out.struct_value.SetInParent()  # an empty dict is still a struct value
        out.struct_value.update(value)
    else:
        out.string_value = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return out
