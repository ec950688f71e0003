"""Applying parsed list options to a SQLAlchemy ``Select``: filters, keyset paging, counting.

Paging is keyset (seek) paging on ``(sort column, id)``: the id breaks ties so the order is
total, and each page starts strictly after the last row of the previous one. Unlike OFFSET,
rows inserted or deleted meanwhile neither shift nor repeat the rows of later pages.

NULL sort values sort as the lowest value: first ascending, last descending. SQLite and
MySQL/MariaDB already order NULLs that way natively, so for them the ORDER BY is plain and
an index on ``(col, id)`` serves it. PostgreSQL orders NULLs as highest, so there (and on
any other dialect) a nullable column gets ``NULLS FIRST`` ascending / ``NULLS LAST``
descending; an index meant to serve that must be declared with the same NULL placement.
Columns declared NOT NULL never get the NULL clauses, so their paging stays index-friendly
everywhere. The seek predicate is written ``col >= v AND (col > v OR id > last)``, whose
leading range term every engine can use as an index range scan.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Row,
    Select,
    and_,
    false,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from domain.errors import InvalidArgument
from domain.timestamps import from_micros, to_micros

from .filters import Op, Predicate
from .options import ListOptions
from .page_tokens import Cursor, CursorValue, encode_page_token

# Wire key -> SQL expression (a Core column or an ORM attribute).
ColumnMap = Mapping[str, ColumnElement[Any]]

# Dialects whose default ordering already puts NULL lowest.
_NULLS_LOW_NATIVELY = frozenset({"sqlite", "mysql", "mariadb"})


def apply_predicates(
    stmt: Select[Any], predicates: Iterable[Predicate], columns: ColumnMap
) -> Select[Any]:
    """AND every predicate onto ``stmt`` as a WHERE condition.

    As in SQL, a NULL column value satisfies no predicate (not even NOT_EQUALS).
    """
    for predicate in predicates:
        stmt = stmt.where(_condition(predicate, _column(columns, predicate.key)))
    return stmt


def _condition(predicate: Predicate, col: ColumnElement[Any]) -> ColumnElement[bool]:
    op, value = predicate.op, predicate.value
    if op is Op.EQUALS:
        return col == value
    if op is Op.NOT_EQUALS:
        return col != value
    if op is Op.GREATER_THAN:
        return col > value
    if op is Op.GREATER_THAN_EQUALS:
        return col >= value
    if op is Op.LESS_THAN:
        return col < value
    if op is Op.LESS_THAN_EQUALS:
        return col <= value
    if op is Op.IN:
        assert isinstance(value, tuple)
        # An empty IN list matches nothing; say so instead of relying on dialect tricks.
        return col.in_(value) if value else false()
    if op is Op.IS_SUBSTRING:
        # LIKE with '%', '_' and the escape character escaped, so the needle is literal.
        return col.contains(value, autoescape=True)
    raise AssertionError(f"unhandled operation {op}")  # pragma: no cover


def keyset_statement(
    stmt: Select[Any],
    options: ListOptions,
    columns: ColumnMap,
    id_column: ColumnElement[str],
    dialect_name: str,
) -> Select[Any]:
    """The statement for one page: filtered, ordered, sought past the cursor, limited.

    It fetches ``page_size + 1`` rows; the extra row only tells whether a next page exists.
    """
    sort_col = _column(columns, options.sort.key)
    descending = options.sort.descending
    nullable = _is_nullable(sort_col)

    stmt = apply_predicates(stmt, options.predicates, columns)
    if options.cursor is not None:
        stmt = stmt.where(_seek(options.cursor, options, sort_col, id_column, nullable))

    sort_order = sort_col.desc() if descending else sort_col.asc()
    if nullable and dialect_name not in _NULLS_LOW_NATIVELY:
        sort_order = sort_order.nulls_last() if descending else sort_order.nulls_first()
    id_order = id_column.desc() if descending else id_column.asc()
    return stmt.order_by(None).order_by(sort_order, id_order).limit(options.page_size + 1)


def _seek(
    cursor: Cursor,
    options: ListOptions,
    col: ColumnElement[Any],
    id_column: ColumnElement[str],
    nullable: bool,
) -> ColumnElement[bool]:
    if cursor.sort_key != options.sort.key or cursor.descending != options.sort.descending:
        raise InvalidArgument("page_token: was issued for a different filter, sort_by or scope")
    last_id = cursor.last_id
    value: object = cursor.last_sort_value
    if cursor.value_is_timestamp and isinstance(value, int):
        value = from_micros(value)

    if not options.sort.descending:
        if value is None:
            # Still inside the leading block of NULLs, or past it.
            return or_(and_(col.is_(None), id_column > last_id), col.is_not(None))
        return and_(col >= value, or_(col > value, id_column > last_id))
    if value is None:
        # Inside the trailing block of NULLs.
        return and_(col.is_(None), id_column < last_id)
    after = and_(col <= value, or_(col < value, id_column < last_id))
    return or_(after, col.is_(None)) if nullable else after


def paginate(
    session: Session,
    stmt: Select[Any],
    options: ListOptions,
    columns: ColumnMap,
    id_column: ColumnElement[str],
    secret: bytes,
    row_sort_value: Callable[[Row[Any]], object] | None = None,
    row_id_value: Callable[[Row[Any]], object] | None = None,
) -> tuple[list[Row[Any]], str]:
    """Run one page of ``stmt`` (filters from ``options`` are applied here).

    Returns the page's rows and the next page token, ``""`` on the last page. The sort value
    and id of the last row are read from the row by column (Core selects) or by attribute of
    the single ORM entity in the row (``select(Entity)``); pass ``row_sort_value`` /
    ``row_id_value`` when neither fits.
    """
    dialect_name = session.get_bind(clause=stmt).dialect.name
    page_stmt = keyset_statement(stmt, options, columns, id_column, dialect_name)
    rows = list(session.execute(page_stmt).all())
    if len(rows) <= options.page_size:
        return rows, ""
    rows = rows[: options.page_size]
    last = rows[-1]
    sort_col = _column(columns, options.sort.key)
    raw_value = row_sort_value(last) if row_sort_value else _row_value(last, sort_col)
    raw_id = row_id_value(last) if row_id_value else _row_value(last, id_column)
    value, is_timestamp = _cursor_value(raw_value)
    cursor = Cursor(
        sort_key=options.sort.key,
        descending=options.sort.descending,
        last_sort_value=value,
        last_id=str(raw_id),
        query_fingerprint=options.fingerprint,
        value_is_timestamp=is_timestamp,
    )
    return rows, encode_page_token(cursor, secret)


def count(session: Session, stmt: Select[Any]) -> int:
    """The number of rows ``stmt`` matches, ignoring its ORDER BY, LIMIT and OFFSET.

    The inner select projects a constant instead of the selected columns, so the engine can
    answer from an index when the WHERE clause allows it. Statements with DISTINCT or
    GROUP BY are counted over their full projection, which those need to stay correct.
    """
    inner = stmt.order_by(None).limit(None).offset(None)
    if not (getattr(inner, "_distinct", False) or getattr(inner, "_group_by_clauses", ())):
        inner = inner.with_only_columns(literal_column("1"), maintain_column_froms=True)
    total = session.execute(select(func.count()).select_from(inner.subquery())).scalar_one()
    return int(total)


def _column(columns: ColumnMap, key: str) -> ColumnElement[Any]:
    try:
        return columns[key]
    except KeyError:
        # The resource's fields and its column map disagree: a server bug, not a client one.
        raise KeyError(f"no SQL column mapped for list key {key!r}") from None


def _is_nullable(col: ColumnElement[Any]) -> bool:
    expr: object = col
    clause_element = getattr(col, "__clause_element__", None)
    if callable(clause_element):
        expr = clause_element()
    if isinstance(expr, Column):
        return bool(expr.nullable)
    # An arbitrary expression might be NULL; the NULL-safe form is always correct.
    return True


def _row_value(row: Row[Any], col: ColumnElement[Any]) -> object:
    try:
        return row._mapping[col]
    except KeyError:
        pass
    name = getattr(col, "key", None)
    if len(row) == 1 and isinstance(name, str) and hasattr(row[0], name):
        return getattr(row[0], name)
    raise KeyError(
        f"cannot read {col!r} from a result row; pass row_sort_value/row_id_value to paginate"
    )


def _cursor_value(value: object) -> tuple[CursorValue, bool]:
    if isinstance(value, datetime):
        return to_micros(value), True
    if isinstance(value, enum.Enum):
        return value.name, False
    if value is None or isinstance(value, str | int | float | bool):
        return value, False
    raise TypeError(f"cannot keep a sort value of type {type(value).__name__} in a page token")
