"""Read and write units of work against the real database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from api_server.storage import Database, build_engine
from domain.errors import Unavailable


def in_transaction(db: Database, driver: Any) -> bool:
    if db.backend == "postgresql":
        return bool(driver.info.transaction_status.name == "INTRANS")
    if db.backend == "sqlite":
        return bool(driver.in_transaction)
    return not driver.get_autocommit()  # pymysql: a transaction unless autocommit


def test_reads_open_a_transaction_only_where_it_is_free(db: Database) -> None:
    """PostgreSQL reads run in autocommit (no BEGIN/ROLLBACK round trips); SQLite and
    MySQL reads keep their transaction; writes are transactions everywhere."""
    with db.read() as session:
        session.execute(text("SELECT 1"))
        driver = session.connection().connection.driver_connection
        assert in_transaction(db, driver) is (db.backend != "postgresql")
    with db.write() as session:
        session.execute(text("SELECT 1"))
        driver = session.connection().connection.driver_connection
        assert in_transaction(db, driver) is True


def test_read_connections_follow_the_read_sessions_rules(db: Database) -> None:
    """The bare connection of single-statement reads (RunService.get) opens a transaction
    exactly where a read session does."""
    with db.read_connection() as connection:
        connection.execute(text("SELECT 1"))
        driver = connection.connection.driver_connection
        assert in_transaction(db, driver) is (db.backend != "postgresql")


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:1/none", "sqlite:////nonexistent-folder/headrace.db"],
)
def test_a_read_connection_to_an_unreachable_database_is_unavailable(url: str) -> None:
    unreachable = Database(build_engine(url))
    try:
        with pytest.raises(Unavailable), unreachable.read_connection() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        unreachable.dispose()
