"""How every List call parses ``filter``, ``sort_by``, ``page_size`` and ``page_token`` and
turns them into a keyset-paginated SQLAlchemy query."""

from .fields import Field, FieldKind, ResourceFields
from .filters import Op, Predicate, parse_filter, parse_rfc3339
from .options import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ListOptions,
    parse_list_options,
    parse_page_size,
)
from .page_tokens import Cursor, decode_page_token, encode_page_token, query_fingerprint
from .sorting import Sort, parse_sort_by
from .sql import ColumnMap, apply_predicates, count, keyset_statement, paginate

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "ColumnMap",
    "Cursor",
    "Field",
    "FieldKind",
    "ListOptions",
    "Op",
    "Predicate",
    "ResourceFields",
    "Sort",
    "apply_predicates",
    "count",
    "decode_page_token",
    "encode_page_token",
    "keyset_statement",
    "paginate",
    "parse_filter",
    "parse_list_options",
    "parse_page_size",
    "parse_rfc3339",
    "parse_sort_by",
    "query_fingerprint",
]
