"""The one list path every repository uses: filter, keyset page, optional total."""

from __future__ import annotations

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
) -> tuple[list[Any], int, str]:
    """(rows of this page, total matching the filter, next page token). Statements select
    Core tables, so rows are plain rows with attribute access by column name."""
    rows, next_token = paginate(session, stmt, options, columns, id_column, secret)
    if not next_token and options.cursor is None:
        total = len(rows)  # the whole result fits on the first page: no count query needed
    else:
        total = count(session, apply_predicates(stmt, options.predicates, columns))
    return rows, total, next_token
