"""The cache store: which task executions produced a result under which cache key.

``lookup`` finds the newest entry of a key (not older than a staleness limit) and ``put``
records one; both are single statements, safe from many threads and processes at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Insert, select
from sqlalchemy.dialects import mysql, postgresql, sqlite

from domain.timestamps import from_micros, to_micros

from .rows import cache_entries

__all__ = ["CacheEntry", "CacheStore"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheEntry:
    """A task execution whose outputs can stand in for any later task with the same key.

    ``outputs`` has the shape the engine records: ``{"parameters": {...}, "artifacts":
    {name: [{"name", "uri", "type", "metadata"}, ...]}}``.
    """

    key: str
    run_id: str
    task_id: str
    outputs: dict[str, Any]
    created_at: datetime
    execution_id: str | None = None

    def __post_init__(self) -> None:
        if len(self.key) != 64:
            raise ValueError(f"cache entry: key must be a sha256 hex digest, got {self.key!r}")


class CacheStore:
    """Cache entries in the ``cache_entries`` table of the database behind ``engine``."""

    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.engine = engine
        self.clock = clock
        self._insert_ignoring_duplicates = _insert_ignoring_duplicates(engine.dialect.name)

    def lookup(self, key: str, *, max_staleness: timedelta | None) -> CacheEntry | None:
        """The newest entry recorded under ``key``, or ``None``.

        ``max_staleness`` limits its age (an entry exactly that old still counts);
        ``None`` accepts any age.
        """
        query = select(cache_entries).where(cache_entries.c.cache_key == key)
        if max_staleness is not None:
            cutoff = to_micros(self.clock() - max_staleness)
            query = query.where(cache_entries.c.created_at >= cutoff)
        query = query.order_by(cache_entries.c.created_at.desc(), cache_entries.c.run_id.desc())
        with self.engine.connect() as connection:
            row = connection.execute(query.limit(1)).mappings().first()
        if row is None:
            return None
        return CacheEntry(
            key=row["cache_key"],
            run_id=row["run_id"],
            task_id=row["task_id"],
            execution_id=row["execution_id"],
            outputs=json.loads(row["outputs"]),
            created_at=from_micros(int(row["created_at"])),
        )

    def put(self, entry: CacheEntry) -> None:
        """Record ``entry``. Recording the same (key, run_id, task_id) again changes nothing,
        also when two writers race: the first one's row stays."""
        values = {
            "cache_key": entry.key,
            "run_id": entry.run_id,
            "task_id": entry.task_id,
            "execution_id": entry.execution_id,
            "outputs": json.dumps(entry.outputs, sort_keys=True, separators=(",", ":")),
            "created_at": to_micros(entry.created_at),
        }
        with self.engine.begin() as connection:
            connection.execute(self._insert_ignoring_duplicates(values))
        logger.debug(
            "cache entry recorded key=%s run_id=%s task_id=%s",
            entry.key,
            entry.run_id,
            entry.task_id,
        )


def _insert_ignoring_duplicates(dialect: str) -> Callable[[dict[str, Any]], Insert]:
    """An INSERT that leaves an existing row with the same primary key alone, per dialect."""
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        return lambda values: insert(cache_entries).values(values).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):

        def mysql_insert(values: dict[str, Any]) -> Insert:
            statement = mysql.insert(cache_entries).values(values)
            # A no-op update: unlike INSERT IGNORE it does not hide other errors.
            return statement.on_duplicate_key_update(cache_key=statement.inserted.cache_key)

        return mysql_insert
    raise ValueError(f"cache store: unsupported database {dialect!r}")
