"""SQL that differs between SQLite, MySQL/MariaDB and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert


def insert_ignoring_duplicates(session: Session, table: Table, values: dict[str, Any]) -> bool:
    """INSERT a row unless its primary/unique key exists; True if a row was inserted.

    One statement, so two writers racing on the same key never fail.
    """
    backend = session.get_bind().dialect.name
    stmt: Insert
    if backend == "postgresql":
        stmt = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif backend == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    elif backend in ("mysql", "mariadb"):
        stmt = mysql.insert(table).values(**values).prefix_with("IGNORE")
    else:  # pragma: no cover - only the three supported backends reach here
        raise NotImplementedError(backend)
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))
