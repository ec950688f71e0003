"""SQL that differs between SQLite, MySQL/MariaDB and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, Text, bindparam
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.functions import FunctionElement


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


_increments: dict[tuple[str, str, str, tuple[str, ...]], Any] = {}


def upsert_increment(
    session: Session, table: Table, *, keys: dict[str, Any], column: str, delta: int
) -> None:
    """INSERT ``keys`` with ``column = delta``, or add ``delta`` to the existing row.

    The statement is built once per backend and table (bind parameters carry the values):
    building it per call cost more than executing it.
    """
    backend = session.get_bind().dialect.name
    cache_key = (backend, table.name, column, tuple(keys))
    stmt = _increments.get(cache_key)
    if stmt is None:
        stmt = _increment_statement(backend, table, list(keys), column)
        _increments[cache_key] = stmt
    params = {f"b_{name}": value for name, value in keys.items()}
    session.connection().execute(stmt, {**params, f"b_{column}": delta})


def _increment_statement(backend: str, table: Table, keys: list[str], column: str) -> Any:
    # Bind names differ from column names: Core reserves those for VALUES.
    values: dict[str, Any] = {name: bindparam(f"b_{name}") for name in [*keys, column]}
    if backend in ("postgresql", "sqlite"):
        module = postgresql if backend == "postgresql" else sqlite
        insert = module.insert(table).values(values)
        return insert.on_conflict_do_update(
            index_elements=keys, set_={column: table.c[column] + insert.excluded[column]}
        )
    if backend in ("mysql", "mariadb"):
        insert = mysql.insert(table).values(values)
        return insert.on_duplicate_key_update({column: table.c[column] + insert.inserted[column]})
    raise NotImplementedError(backend)  # pragma: no cover


class json_rows(FunctionElement[str]):
    """An aggregate: the group's rows as a JSON array of arrays (``[[a, b], ...]``), as text;
    NULL or ``[]`` for no rows. Row order is unspecified (MySQL has no ORDER BY in
    ``JSON_ARRAYAGG`` and SQLite before 3.44 none in aggregates): put a key in each row and
    sort after decoding. Values keep their SQL type (numbers, strings, NULL); text holding
    JSON arrives as a string, to be decoded like the column it came from."""

    type = Text()
    name = "json_rows"
    inherit_cache = True


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: json_rows, compiler: Any, **kw: Any) -> str:
    # ::text: psycopg would otherwise decode json itself; every backend hands back text.
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))::text"


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "mysql")
@compiles(json_rows, "mariadb")
def _json_rows_mysql(element: json_rows, compiler: Any, **kw: Any) -> str:
    # Bounded by group_concat_max_len, which build_engine raises on every connection.
    return f"JSON_ARRAYAGG(JSON_ARRAY({compiler.process(element.clauses, **kw)}))"
