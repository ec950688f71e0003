"""What a List call may filter and sort on: one ``Field`` per wire key of a resource."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class FieldKind(enum.Enum):
    """The value type of a filterable field, which decides the accepted predicate values."""

    STRING = "string"
    INT = "int"
    TIMESTAMP = "timestamp"
    ENUM = "enum"
    BOOL = "bool"


@dataclass(frozen=True)
class Field:
    """One filterable (and maybe sortable) wire key.

    For ``ENUM`` fields ``enum_names`` holds the wire names indexed by proto number, so a
    predicate may name the value or give its number. An empty string marks an unused number.
    """

    kind: FieldKind
    sortable: bool = False
    enum_names: tuple[str, ...] = ()


# Wire key (snake_case, as in the API) -> Field.
ResourceFields = Mapping[str, Field]
