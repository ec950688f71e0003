"""The one list path every repository uses: filter, keyset page, optional total."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from api_server.listing import ListOptions
from api_server.listing.sql import apply_predicates, count, paginate


def list_page(
    session: Session,
    stmt: Select[Any],
    options: ListOptions,
    columns: dict[str, Any],
    id_column: Any,
    secret: bytes,
    total: Callable[[], int] | None = None,
) -> tuple[list[Any], int, str]:
    """(rows of this page, total matching the filter, next page token). Statements select
    Core tables, so rows are plain rows with attribute access by column name."""
    rows, next_token = paginate(session, stmt, options, columns, id_column, secret)
    if not next_token and options.cursor is None:
        size = len(rows)  # the whole result fits on the first page: no count query needed
    elif total is not None:
        size = total()  # the caller keeps a cheaper count (e.g. maintained counters)
    else:
        size = count(session, apply_predicates(stmt, options.predicates, columns))
    return rows, size, next_token
