"""Read and write units of work against the real database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from api_server.storage import Database


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
