"""Portable column types: the same bytes on SQLite, MariaDB/MySQL and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# MySQL's TEXT/BLOB stop at 64 KiB; specs and histories can be larger.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
LongBinary = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


class EpochMicros(TypeDecorator[datetime]):
    """An aware UTC datetime stored as BIGINT microseconds since the epoch.

    Integers compare and index identically on every backend, are 8 bytes instead of a
    26-character string on SQLite, and never meet a driver's time-zone conversions.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, int):
            return value
        return to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else from_micros(int(value))


class JSONText(TypeDecorator[Any]):
    """JSON kept as compact text: the same behaviour on every backend (no dialect JSON types)."""

    impl = LongText
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)
