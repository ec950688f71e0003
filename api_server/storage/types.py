"""Portable column types: the same bytes on SQLite, MariaDB/MySQL and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from domain.timestamps import from_micros, to_micros

# MySQL's TEXT/BLOB stop at 64 KiB; specs and histories can be larger.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
LongBinary = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


# One encoder for every JSON column: ``json.dumps`` with these arguments builds a new encoder
# per call, a third of the cost of encoding a small dict. Same bytes either way.
_encode_json = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


def json_text(value: Any) -> str | None:
    """A JSONText column's stored form of ``value`` (compact, keys sorted)."""
    return None if value is None else _encode_json(value)


def micros(value: datetime | int | None) -> int | None:
    """An EpochMicros column's stored form of ``value``."""
    if value is None or isinstance(value, int):
        return value
    return to_micros(value)


class EpochMicros(TypeDecorator[datetime]):
    """An aware UTC datetime stored as BIGINT microseconds since the epoch.

    Integers compare and index identically on every backend, are 8 bytes instead of a
    26-character string on SQLite, and never meet a driver's time-zone conversions.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        return micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else from_micros(int(value))


class JSONText(TypeDecorator[Any]):
    """JSON kept as compact text: the same behaviour on every backend (no dialect JSON types)."""

    impl = LongText
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return json_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)
