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


def upsert_increment(
    session: Session, table: Table, *, keys: dict[str, Any], column: str, delta: int
) -> None:
    """INSERT ``keys`` with ``column = delta``, or add ``delta`` to the existing row."""
    backend = session.get_bind().dialect.name
    values = {**keys, column: delta}
    if backend in ("postgresql", "sqlite"):
        module = postgresql if backend == "postgresql" else sqlite
        stmt = module.insert(table).values(**values)
        upsert = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={column: table.c[column] + stmt.excluded[column]}
        )
        session.connection().execute(upsert)
    elif backend in ("mysql", "mariadb"):
        stmt = mysql.insert(table).values(**values)
        session.connection().execute(
            stmt.on_duplicate_key_update({column: table.c[column] + stmt.inserted[column]})
        )
    else:  # pragma: no cover
        raise NotImplementedError(backend)
