"""The ``cache_entries`` table. Like every table it is created only by Alembic
(``migrations/versions/0004_cache_entries.py``); a migration test compares the two.

The cache keeps a MetaData of its own so it never imports the API server; the naming
convention is the API server's, so constraint and index names follow one scheme.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, Text
from sqlalchemy.dialects import mysql

from domain.schema import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# MySQL's TEXT stops at 64 KiB; a task's outputs can be larger.
_LONG_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

cache_entries = Table(
    "cache_entries",
    metadata,
    # One row per task execution that produced a result under this key; the primary key
    # makes recording the same execution twice a no-op.
    Column("cache_key", String(64), primary_key=True),
    Column("run_id", String(36), primary_key=True),
    Column("task_id", String(128), primary_key=True),
    Column("execution_id", String(64), nullable=True),
    # {"parameters": {...}, "artifacts": {name: [artifact, ...]}} as compact JSON text.
    Column("outputs", _LONG_TEXT, nullable=False),
    # Microseconds since the epoch, like every timestamp of Headrace's schema.
    Column("created_at", BigInteger, nullable=False),
    # The one lookup: the newest entry of a key, optionally not older than a cutoff.
    Index(None, "cache_key", "created_at"),
)
