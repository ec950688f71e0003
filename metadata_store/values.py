"""Property values between ML-Metadata's ``Value`` message and property rows."""

from __future__ import annotations

import json
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
