"""Turning the four List query parameters into one validated ``ListOptions``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from domain.errors import InvalidArgument

from .fields import ResourceFields
from .filters import Predicate, parse_filter
from .page_tokens import Cursor, decode_page_token, query_fingerprint
from .sorting import Sort, parse_sort_by

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200

_DIGITS = re.compile(r"\+?[0-9]+")


@dataclass(frozen=True)
class ListOptions:
    """Everything a List call needs to build its query and its next page token."""

    predicates: tuple[Predicate, ...]
    sort: Sort
    page_size: int
    cursor: Cursor | None
    fingerprint: str


def parse_page_size(raw: str | int | None) -> int:
    """Parse ``page_size``: missing, empty or 0 give the default; above the maximum clamps.

    Negative or non-numeric values raise ``InvalidArgument``.
    """
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(raw, bool):
        raise InvalidArgument(f"page_size: must be a non-negative integer, got {raw!r}")
    if isinstance(raw, int):
        size = raw
    else:
        text = raw.strip()
        if not text:
            return DEFAULT_PAGE_SIZE
        if not _DIGITS.fullmatch(text):
            raise InvalidArgument(f"page_size: must be a non-negative integer, got {raw!r}")
        size = int(text)
    if size < 0:
        raise InvalidArgument(f"page_size: must be a non-negative integer, got '{size}'")
    if size == 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def parse_list_options(
    *,
    fields: ResourceFields,
    default_sort: Sort,
    filter: str | None,
    sort_by: str | None,
    page_size: str | int | None,
    page_token: str | None,
    scope: Mapping[str, object],
    secret: bytes,
) -> ListOptions:
    """Validate all List parameters at once; ``scope`` (e.g. experiment_id, namespace) is
    whatever else narrows the listing, so a page token cannot cross into another scope.

    Raises ``InvalidArgument`` for any malformed parameter or a token issued for a
    different filter, sort or scope.
    """
    predicates = parse_filter(filter, fields)
    sort = parse_sort_by(sort_by, fields, default_sort)
    size = parse_page_size(page_size)
    fingerprint = query_fingerprint(predicates, sort, scope)
    cursor = None
    if page_token:
        cursor = decode_page_token(page_token, secret)
        if (
            cursor.query_fingerprint != fingerprint
            or cursor.sort_key != sort.key
            or cursor.descending != sort.descending
        ):
            raise InvalidArgument("page_token: was issued for a different filter, sort_by or scope")
    return ListOptions(
        predicates=predicates, sort=sort, page_size=size, cursor=cursor, fingerprint=fingerprint
    )
