"""Portable column types: the same bytes on SQLite, MariaDB/MySQL and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from domain.timestamps import from_micros, to_micros

# MySQL's TEXT/BLOB stop at 64 KiB; specs and histories can be larger.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
LongBinary = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def _compact_json_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"), sort_keys=True)``, built once.

    ``json.dumps`` with these arguments makes a new encoder per call, and the encoder then
    makes the C encoder the json module runs: half the cost of encoding a small dict (a
    task's inputs, an iteration's details). This makes that C encoder once, with the same
    arguments, so the bytes are the same; without a circular-reference check (a column
    value is a tree: a cycle raises RecursionError rather than ValueError). Where the C
    encoder is missing, the pure-Python one is used.
    """
    reference = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return reference.encode
    chunks = c_make_encoder(
        None,  # markers: no circular-reference check
        reference.default,  # raises TypeError for what JSON cannot hold
        encode_basestring_ascii,
        None,  # indent
        reference.key_separator,
        reference.item_separator,
        reference.sort_keys,
        reference.skipkeys,
        reference.allow_nan,
    )
    return lambda value: "".join(chunks(value, 0))


_encode_json = _compact_json_encoder()


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
