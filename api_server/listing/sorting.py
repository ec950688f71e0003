"""Parsing the ``sort_by`` query parameter of List calls."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InvalidArgument

from .fields import ResourceFields


@dataclass(frozen=True)
class Sort:
    """Order of a listing: one wire key and a direction (the id breaks ties the same way)."""

    key: str
    descending: bool


def parse_sort_by(raw: str | None, fields: ResourceFields, default: Sort) -> Sort:
    """Parse ``"field"``, ``"field asc"`` or ``"field desc"``; empty or ``None`` is ``default``.

    The direction is case-insensitive and surrounding whitespace is ignored. Only keys
    marked sortable in ``fields`` are accepted; anything else raises ``InvalidArgument``.
    """
    if raw is None or not raw.strip():
        return default
    words = raw.split()
    if len(words) > 2:
        raise InvalidArgument(
            f"sort_by: expected 'field', 'field asc' or 'field desc', got {raw!r}"
        )
    key = words[0]
    field = fields.get(key)
    if field is None or not field.sortable:
        sortable = ", ".join(sorted(k for k, f in fields.items() if f.sortable))
        raise InvalidArgument(f"sort_by: cannot sort on {key!r} (sortable: {sortable})")
    if len(words) == 1:
        return Sort(key=key, descending=False)
    direction = words[1].lower()
    if direction not in ("asc", "desc"):
        raise InvalidArgument(f"sort_by: direction must be 'asc' or 'desc', got {words[1]!r}")
    return Sort(key=key, descending=direction == "desc")
