"""Filters, keyset paging and counting against a real database.

Everything goes through the ``session`` fixture, built on the module's ``engine`` fixture,
which runs the same checks on every backend in ``HEADRACE_TEST_DATABASES``. Strings are
lower-case so LIKE behaves the same on every engine.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, registry
from sqlalchemy.types import TypeDecorator

from api_server.listing import (
    Field,
    FieldKind,
    ListOptions,
    Op,
    Predicate,
    Sort,
    count,
    keyset_statement,
    paginate,
    parse_list_options,
)
from api_server.storage import build_engine
from domain.errors import InvalidArgument

SECRET = b"integration-secret"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
STATES = ("RUNTIME_STATE_UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED")


class EpochMicros(TypeDecorator[datetime]):
    """Stand-in for storage.types.EpochMicros: aware datetimes kept as BIGINT microseconds."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else EPOCH + timedelta(microseconds=int(value))


metadata = MetaData()
items = Table(
    "listing_items",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("label", String(64), nullable=False),
    Column("description", String(64), nullable=True),
    Column("size", Integer, nullable=True),
    Column("created_at", EpochMicros(), nullable=False),
    Column("finished_at", EpochMicros(), nullable=True),
    Column("state", String(32), nullable=False),
    Column("archived", Boolean, nullable=False),
)

FIELDS = {
    "id": Field(FieldKind.STRING, sortable=True),
    "name": Field(FieldKind.STRING, sortable=True),
    "label": Field(FieldKind.STRING),
    "description": Field(FieldKind.STRING, sortable=True),
    "size": Field(FieldKind.INT, sortable=True),
    "created_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "finished_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "state": Field(FieldKind.ENUM, sortable=True, enum_names=STATES),
    "archived": Field(FieldKind.BOOL),
}
COLUMNS = {key: items.c[key] for key in FIELDS}
DEFAULT_SORT = Sort("created_at", descending=False)
# Sortable strings stay alphanumeric so every collation orders them like Python does;
# the LIKE wildcards live in the filter-only ``label``.
NAMES = ("alpha", "beta", "gamma", "delta", "ab", "abc", "b")
LABELS = ("a_b%c", "a-b-c", "abc", "x%y", "plain")


def make_rows() -> list[dict[str, Any]]:
    """250 rows with many duplicate sort values, NULLs in the nullable columns, and ids in
    an order unrelated to insertion."""
    rng = random.Random(20260102)
    rows = []
    for i in range(250):
        rows.append(
            {
                "id": f"{rng.getrandbits(64):016x}-{i:03d}",
                "name": NAMES[i % len(NAMES)],
                "label": LABELS[i % len(LABELS)],
                "description": None if i % 4 == 0 else f"desc {i % 9}",
                "size": None if i % 6 == 0 else (i * 7) % 13,
                "created_at": BASE + timedelta(seconds=i // 5, microseconds=i % 2),
                # Whole seconds, so Unix-seconds filters (the only IN form) can hit them.
                "finished_at": None
                if i % 3 == 0
                else BASE.replace(microsecond=0) + timedelta(minutes=i % 11),
                "state": STATES[i % len(STATES)],
                "archived": i % 5 == 0,
            }
        )
    return rows


ROWS = make_rows()


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """The database under test, filled with ``ROWS``: one per backend of the test run (the
    shared ``database_url`` fixture), with Headrace's own engine settings; the table is
    dropped again after the module."""
    db = build_engine(database_url)
    metadata.create_all(db)
    with db.begin() as connection:
        connection.execute(insert(items), ROWS)
    yield db
    metadata.drop_all(db)
    db.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as db_session:
        yield db_session


# --- a Python reference for ordering and filtering ------------------------------------------


def reference_order(rows: list[dict[str, Any]], sort: Sort) -> list[str]:
    """Ids in the expected order: NULL lowest, id as tie-break in the same direction."""

    def key(row: dict[str, Any]) -> tuple[bool, Any, str]:
        value = row[sort.key]
        return (value is not None, 0 if value is None else value, row["id"])

    ordered = sorted(rows, key=key)
    if sort.descending:
        ordered.reverse()
    return [r["id"] for r in ordered]


def matches(row: dict[str, Any], predicate: Predicate) -> bool:
    value = row[predicate.key]
    if value is None:
        return False
    wanted: Any = predicate.value
    checks: dict[Op, Callable[[], bool]] = {
        Op.EQUALS: lambda: value == wanted,
        Op.NOT_EQUALS: lambda: value != wanted,
        Op.GREATER_THAN: lambda: value > wanted,
        Op.GREATER_THAN_EQUALS: lambda: value >= wanted,
        Op.LESS_THAN: lambda: value < wanted,
        Op.LESS_THAN_EQUALS: lambda: value <= wanted,
        Op.IN: lambda: value in wanted,
        Op.IS_SUBSTRING: lambda: wanted in value,
    }
    return checks[predicate.op]()


def list_options(
    *,
    filter: str | None = None,
    sort_by: str | None = None,
    page_size: int | str | None = None,
    page_token: str | None = None,
) -> ListOptions:
    return parse_list_options(
        fields=FIELDS,
        default_sort=DEFAULT_SORT,
        filter=filter,
        sort_by=sort_by,
        page_size=page_size,
        page_token=page_token,
        scope={"namespace": ""},
        secret=SECRET,
    )


def walk(
    session: Session, *, filter: str | None = None, sort_by: str | None = None, page_size: int
) -> list[list[str]]:
    """Every page of a listing, as lists of ids, following next_page_token to the end."""
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        options = list_options(
            filter=filter, sort_by=sort_by, page_size=page_size, page_token=token
        )
        rows, token = paginate(session, select(items), options, COLUMNS, items.c.id, SECRET)
        pages.append([row.id for row in rows])
        assert len(pages) <= len(ROWS) + 1, "paging does not terminate"
        if not token:
            return pages


def filter_of(*predicates: dict[str, Any]) -> str:
    return json.dumps({"predicates": list(predicates)})


# --- paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort_by",
    [
        None,
        "created_at desc",
        "name",
        "name desc",
        "description",
        "description desc",
        "size asc",
        "size desc",
        "finished_at",
        "finished_at desc",
        "state desc",
        "id desc",
    ],
)
@pytest.mark.parametrize("page_size", [7, 50])
def test_walking_all_pages_yields_every_row_once_in_order(
    session: Session, sort_by: str | None, page_size: int
) -> None:
    pages = walk(session, sort_by=sort_by, page_size=page_size)
    sort = list_options(sort_by=sort_by).sort
    expected = reference_order(ROWS, sort)
    assert [row_id for page in pages for row_id in page] == expected
    assert all(len(page) == page_size for page in pages[:-1])
    assert 0 < len(pages[-1]) <= page_size
    assert len(pages) == -(-len(ROWS) // page_size)


def test_page_size_one_walk_over_nullable_column(session: Session) -> None:
    pages = walk(session, sort_by="size desc", page_size=1)
    assert len(pages) == len(ROWS)
    assert [page[0] for page in pages] == reference_order(ROWS, Sort("size", True))


def test_single_page_has_empty_token(session: Session) -> None:
    rows, token = paginate(
        session, select(items), list_options(page_size=200), COLUMNS, items.c.id, SECRET
    )
    assert len(rows) == 200
    assert token != ""
    filtered = filter_of({"key": "name", "operation": "EQUALS", "string_value": "alpha"})
    rows, token = paginate(
        session,
        select(items),
        list_options(filter=filtered, page_size=200),
        COLUMNS,
        items.c.id,
        SECRET,
    )
    assert len(rows) == sum(1 for r in ROWS if r["name"] == "alpha") == 36
    assert token == ""


def test_exact_multiple_of_page_size_ends_with_empty_token(session: Session) -> None:
    pages = walk(session, page_size=50)
    assert [len(p) for p in pages] == [50, 50, 50, 50, 50]


def test_empty_result(session: Session) -> None:
    nothing = filter_of({"key": "name", "operation": "EQUALS", "string_value": "zeta"})
    rows, token = paginate(
        session, select(items), list_options(filter=nothing), COLUMNS, items.c.id, SECRET
    )
    assert (rows, token) == ([], "")
    assert count(session, select(items).where(items.c.name == "zeta")) == 0


def test_filtered_walk_and_count(session: Session) -> None:
    raw = filter_of(
        {
            "key": "finished_at",
            "operation": "GREATER_THAN",
            "timestamp_value": "2026-01-02T03:08:05Z",
        },
        {"key": "archived", "operation": "EQUALS", "string_value": "false"},
    )
    options = list_options(filter=raw, sort_by="finished_at desc")
    expected_rows = [r for r in ROWS if all(matches(r, p) for p in options.predicates)]
    assert 10 < len(expected_rows) < 200
    pages = walk(session, filter=raw, sort_by="finished_at desc", page_size=9)
    assert [i for p in pages for i in p] == reference_order(expected_rows, options.sort)


def test_rows_inserted_behind_the_cursor_do_not_shift_later_pages(engine: Engine) -> None:
    with Session(engine) as db_session:
        first = list_options(sort_by="name", page_size=10)
        page_one, token = paginate(db_session, select(items), first, COLUMNS, items.c.id, SECRET)
        early = dict(ROWS[0], id="000-early", name="aaaa")
        db_session.execute(insert(items), [early])
        try:
            second = list_options(sort_by="name", page_size=10, page_token=token)
            page_two, _ = paginate(db_session, select(items), second, COLUMNS, items.c.id, SECRET)
            expected = reference_order(ROWS, Sort("name", False))
            assert [r.id for r in page_one + page_two] == expected[:20]
        finally:
            db_session.rollback()


def test_token_from_another_query_is_refused(session: Session) -> None:
    _, token = paginate(
        session, select(items), list_options(page_size=5), COLUMNS, items.c.id, SECRET
    )
    assert token
    with pytest.raises(InvalidArgument, match="different filter, sort_by or scope"):
        list_options(page_size=5, page_token=token, sort_by="created_at desc")


# --- filters --------------------------------------------------------------------------------


FILTER_CASES: list[dict[str, Any]] = [
    {"key": "name", "operation": "EQUALS", "stringValue": "ab"},
    {"key": "name", "operation": "NOT_EQUALS", "string_value": "alpha"},
    {"key": "name", "operation": "GREATER_THAN", "string_value": "beta"},
    {"key": "name", "operation": "LESS_THAN_EQUALS", "string_value": "beta"},
    {"key": "name", "operation": "IN", "string_values": {"values": ["ab", "gamma", "nope"]}},
    {"key": "name", "operation": "IN", "string_values": {"values": []}},
    {"key": "name", "operation": "IS_SUBSTRING", "string_value": "a"},
    {"key": "label", "operation": "IS_SUBSTRING", "string_value": "_"},
    {"key": "label", "operation": "IS_SUBSTRING", "string_value": "%"},
    {"key": "label", "operation": "IS_SUBSTRING", "string_value": "b%c"},
    {"key": "label", "operation": "IS_SUBSTRING", "string_value": "a-b"},
    {"key": "label", "operation": "EQUALS", "string_value": "a_b%c"},
    {"key": "description", "operation": "EQUALS", "string_value": "desc 3"},
    {"key": "description", "operation": "NOT_EQUALS", "string_value": "desc 3"},
    {"key": "description", "operation": "IS_SUBSTRING", "string_value": "desc"},
    {"key": "size", "operation": 1, "int_value": 5},
    {"key": "size", "operation": 2, "int_value": 5},
    {"key": "size", "operation": 3, "long_value": "6"},
    {"key": "size", "operation": 5, "int_value": 6},
    {"key": "size", "operation": 6, "int_value": 6},
    {"key": "size", "operation": 7, "int_value": 6},
    {"key": "size", "operation": 8, "int_values": {"values": [0, 12, 99]}},
    {"key": "created_at", "operation": "EQUALS", "timestamp_value": "2026-01-02T03:04:15.123456Z"},
    {"key": "created_at", "operation": "GREATER_THAN", "timestamp_value": "2026-01-02T03:04:45Z"},
    {
        "key": "created_at",
        "operation": "GREATER_THAN_EQUALS",
        "timestamp_value": "2026-01-02T04:04:15.123457+01:00",
    },
    {"key": "created_at", "operation": "LESS_THAN", "int_value": 1767323065},
    {
        "key": "created_at",
        "operation": "LESS_THAN_EQUALS",
        "timestamp_value": "2026-01-02T03:04:10Z",
    },
    {"key": "finished_at", "operation": "NOT_EQUALS", "timestamp_value": "2026-01-02T03:06:05Z"},
    {"key": "finished_at", "operation": "IN", "long_values": {"values": ["1767323045"]}},
    {"key": "state", "operation": "EQUALS", "string_value": "RUNNING"},
    {"key": "state", "operation": "NOT_EQUALS", "int_value": 4},
    {"key": "state", "operation": "IN", "intValues": {"values": [1, 3]}},
    {"key": "archived", "operation": "EQUALS", "string_value": "true"},
    {"key": "archived", "operation": "NOT_EQUALS", "int_value": 1},
]


@pytest.mark.parametrize(
    "predicate",
    FILTER_CASES,
    ids=[f"{c['key']}-{c['operation']}-{n}" for n, c in enumerate(FILTER_CASES)],
)
def test_each_operation_matches_the_reference(session: Session, predicate: dict[str, Any]) -> None:
    raw = filter_of(predicate)
    options = list_options(filter=raw, page_size=200, sort_by="id")
    expected = sorted(r["id"] for r in ROWS if matches(r, options.predicates[0]))
    pages = walk(session, filter=raw, sort_by="id", page_size=200)
    assert [i for p in pages for i in p] == expected
    from api_server.listing import apply_predicates

    filtered = apply_predicates(select(items), options.predicates, COLUMNS)
    assert count(session, filtered) == len(expected)


def test_reference_filters_are_not_trivial() -> None:
    # Each case should select something and leave something out, so a no-op filter fails.
    trivial = []
    for case in FILTER_CASES:
        predicate = list_options(filter=filter_of(case)).predicates[0]
        hits = sum(1 for r in ROWS if matches(r, predicate))
        if hits in (0, len(ROWS)):
            trivial.append((case, hits))
    empty_in = {"key": "name", "operation": "IN", "string_values": {"values": []}}
    assert trivial == [(empty_in, 0)]


def test_substring_wildcards_are_literal(session: Session) -> None:
    for needle, expected in (("_", {"a_b%c"}), ("%", {"a_b%c", "x%y"}), ("b%", {"a_b%c"})):
        raw = filter_of({"key": "label", "operation": "IS_SUBSTRING", "string_value": needle})
        ids = {i for page in walk(session, filter=raw, page_size=200) for i in page}
        assert {r["label"] for r in ROWS if r["id"] in ids} == expected


# --- counting -------------------------------------------------------------------------------


def test_count_ignores_order_limit_and_offset(session: Session) -> None:
    stmt = select(items).where(items.c.size > 6).order_by(items.c.name).limit(3).offset(2)
    assert count(session, stmt) == sum(1 for r in ROWS if r["size"] is not None and r["size"] > 6)
    assert count(session, select(items)) == 250


def test_count_with_distinct(session: Session) -> None:
    assert count(session, select(items.c.name).distinct()) == len(NAMES)


# --- ORM entities ---------------------------------------------------------------------------


class Item:
    id: str
    name: str
    created_at: datetime


mapper_registry = registry()
mapper_registry.map_imperatively(Item, items)


def test_paginate_orm_entities(session: Session) -> None:
    columns = {
        "name": Item.name,  # type: ignore[dict-item]
        "created_at": Item.created_at,  # type: ignore[dict-item]
        "id": Item.id,  # type: ignore[dict-item]
    }
    seen: list[str] = []
    token: str | None = None
    while True:
        options = list_options(sort_by="created_at desc", page_size=40, page_token=token)
        rows, token = paginate(
            session,
            select(Item),
            options,
            columns,
            Item.id,  # type: ignore[arg-type]
            SECRET,
        )
        assert all(isinstance(row[0], Item) for row in rows)
        seen.extend(row[0].id for row in rows)
        if not token:
            break
    assert seen == reference_order(ROWS, Sort("created_at", True))
    assert count(session, select(Item).where(Item.name == "beta")) == 36  # type: ignore[arg-type]


def test_row_sort_value_callback(session: Session) -> None:
    options = list_options(sort_by="name", page_size=3)
    stmt = select(items.c.id.label("ident"), items.c.name.label("label"))
    rows, token = paginate(
        session,
        stmt,
        options,
        COLUMNS,
        items.c.id,
        SECRET,
        row_sort_value=lambda row: row.label,
        row_id_value=lambda row: row.ident,
    )
    follow = list_options(sort_by="name", page_size=3, page_token=token)
    more, _ = paginate(
        session,
        stmt,
        follow,
        COLUMNS,
        items.c.id,
        SECRET,
        row_sort_value=lambda row: row.label,
        row_id_value=lambda row: row.ident,
    )
    assert [r.ident for r in rows + more] == reference_order(ROWS, Sort("name", False))[:6]


# --- generated SQL per dialect ---------------------------------------------------------------


def _sql(sort_by: str, dialect: Dialect) -> str:
    options = list_options(sort_by=sort_by, page_size=5)
    stmt = keyset_statement(select(items), options, COLUMNS, items.c.id, dialect.name)
    return str(stmt.compile(dialect=dialect))


def test_null_placement_clauses_only_where_needed() -> None:
    pg, my, lite = postgresql.dialect(), mysql.dialect(), sqlite.dialect()
    assert "NULLS FIRST" in _sql("size", pg)
    assert "NULLS LAST" in _sql("size desc", pg)
    assert "NULLS" not in _sql("name", pg)  # NOT NULL column: plain, index-friendly order
    assert "NULLS" not in _sql("size", my)
    assert "NULLS" not in _sql("size desc", lite)
    assert "ORDER BY listing_items.size DESC, listing_items.id DESC" in _sql("size desc", my)
