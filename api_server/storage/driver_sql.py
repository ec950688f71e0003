"""Core statements sent through the driver as they are, for the hottest executemany paths.

SQLAlchemy processes every bound value of every row of an executemany in Python (bind
processors, parameter dicts): on the status writes of a fan-out that cost more than the
database itself. A :class:`DriverStatement` is a Core statement compiled once per dialect;
its rows are given as tuples whose values are already in their columns' stored form
(``types.micros``, ``types.json_text``, plain strings and integers), and go to the driver
through ``Connection.exec_driver_sql``, which still fires the engine's cursor events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Connection, CursorResult
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Params = Sequence[Any]


class DriverStatement:
    """``statement`` with bind parameters named ``names`` (in the order rows give them)."""

    def __init__(self, statement: ClauseElement, names: Sequence[str]) -> None:
        self.statement = statement
        self.names = tuple(names)
        self._compiled: dict[str, tuple[str, Callable[[Params], Any] | None]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, Callable[[Params], Any] | None]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            names = self.names
            convert: Callable[[Params], Any] | None
            if compiled.positiontup is not None:  # qmark, format: tuples in the SQL's order
                order = tuple(compiled.positiontup)
                if set(order) != set(names):
                    raise ValueError(f"bind parameters {order} are not {names}")
                index = [names.index(name) for name in order]
                convert = None if order == names else (lambda row: tuple([row[i] for i in index]))
            else:  # pyformat, named: a mapping per row
                if set(compiled.binds) != set(names):
                    raise ValueError(f"bind parameters {sorted(compiled.binds)} are not {names}")
                convert = lambda row: dict(zip(names, row, strict=True))  # noqa: E731
            found = (compiled.string, convert)
            self._compiled[dialect.name] = found
        return found

    def execute_many(self, connection: Connection, rows: Sequence[Params]) -> None:
        """Run the statement once per row (the driver's executemany)."""
        if not rows:
            return
        sql, convert = self._for(connection.dialect)
        params = list(rows) if convert is None else [convert(row) for row in rows]
        connection.exec_driver_sql(sql, params)

    def execute(self, connection: Connection, row: Params) -> CursorResult[Any]:
        """Run the statement once, e.g. a query."""
        sql, convert = self._for(connection.dialect)
        return connection.exec_driver_sql(sql, tuple(row) if convert is None else convert(row))


def placeholders(dialect: Dialect, count: int) -> str:
    """``count`` positional placeholders of the driver, comma-separated (an IN list)."""
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * count)
