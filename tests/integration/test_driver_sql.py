"""Driver statements (``storage/driver_sql``) against each real database: rows given as
tuples in any order reach the right columns, NULLs bind as NULL, IN lists work."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)

from api_server.storage import Database, build_engine
from api_server.storage.driver_sql import DriverStatement, placeholders


@pytest.fixture
def scratch(db: Database) -> Iterator[Table]:
    metadata = MetaData()
    table = Table(
        "driver_sql_scratch",
        metadata,
        Column("name", String(32), primary_key=True),
        Column("label", String(32), nullable=True),
        Column("size", Integer, nullable=True),
        Column("stamp", BigInteger, nullable=True),
    )
    metadata.drop_all(db.engine)
    metadata.create_all(db.engine)
    try:
        yield table
    finally:
        metadata.drop_all(db.engine)


def stored(db: Database, table: Table) -> list[tuple[object, ...]]:
    with db.read_connection() as connection:
        rows = connection.execute(select(table).order_by(table.c.name))
        return [tuple(row) for row in rows]


def test_rows_reach_their_columns_whatever_order_they_are_given_in(
    db: Database, scratch: Table
) -> None:
    # The rows' order is not the table's (the order the compiled INSERT binds in).
    names = ("stamp", "name", "size", "label")
    statement = DriverStatement(
        insert(scratch).values({name: bindparam(name) for name in names}), names
    )
    with db.write_connection() as connection:
        statement.execute_many(
            connection, [(1_700_000_000_000_001, "a", 3, "first"), (None, "b", None, None)]
        )
        statement.execute_many(connection, [(7, "c", 5, "one row")])
        statement.execute_many(connection, [])
    assert stored(db, scratch) == [
        ("a", "first", 3, 1_700_000_000_000_001),
        ("b", None, None, None),
        ("c", "one row", 5, 7),
    ]

    # An UPDATE binds its SET values before its WHERE; the rows give the name first.
    change = DriverStatement(
        update(scratch)
        .where(scratch.c.name == bindparam("b_name"))
        .values(size=bindparam("b_size"), label=bindparam("b_label")),
        ("b_name", "b_size", "b_label"),
    )
    with db.write_connection() as connection:
        change.execute_many(connection, [("a", 4, None), ("b", 9, "second")])
    assert stored(db, scratch)[:2] == [
        ("a", None, 4, 1_700_000_000_000_001),
        ("b", "second", 9, None),
    ]


def test_a_query_and_an_in_list_of_placeholders(db: Database, scratch: Table) -> None:
    with db.write_connection() as connection:
        connection.execute(insert(scratch), [{"name": n, "size": i} for i, n in enumerate("abc")])
    query = DriverStatement(
        select(scratch.c.size).where(scratch.c.name == bindparam("name")), ("name",)
    )
    with db.write_connection() as connection:
        assert query.execute(connection, ("b",)).scalar_one() == 1
        assert query.execute(connection, ("z",)).scalar_one_or_none() is None
        marks = placeholders(connection.dialect, 2)
        found = connection.exec_driver_sql(
            f"SELECT name FROM driver_sql_scratch WHERE name IN ({marks}) ORDER BY name",
            ("a", "c"),
        )
        assert [name for (name,) in found] == ["a", "c"]


def test_statements_whose_binds_are_not_the_names_given_are_refused(
    db: Database, scratch: Table
) -> None:
    statement = DriverStatement(
        insert(scratch).values(name=bindparam("name"), label=bindparam("label")), ("name", "size")
    )
    with db.write_connection() as connection, pytest.raises(ValueError, match="bind param"):
        statement.execute_many(connection, [("a", 1)])


def test_a_failing_write_connection_keeps_nothing(db: Database, scratch: Table) -> None:
    with pytest.raises(RuntimeError), db.write_connection() as connection:
        connection.execute(insert(scratch), [{"name": "gone"}])
        raise RuntimeError("the caller failed")
    assert stored(db, scratch) == []


def test_sqlite_binds_none_through_its_adapter_as_null(tmp_path: Path) -> None:
    """pysqlite finds an adapter for None at once (no failed attribute look-ups) and the
    value still binds as NULL. A pysqlite matter: on a SQLite database of its own."""
    db = Database(build_engine(f"sqlite:///{tmp_path / 'adapter.db'}"))
    try:
        assert (type(None), sqlite3.PrepareProtocol) in sqlite3.adapters
        with db.write_connection() as connection:
            is_null = connection.exec_driver_sql("SELECT ? IS NULL, typeof(?)", (None, None))
            assert tuple(is_null.one()) == (1, "null")
    finally:
        db.dispose()
