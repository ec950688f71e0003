"""Cache entries: which task execution produced a result under which cache key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 04:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types at this revision (migrations never import app code).
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
MYSQL_TABLE_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("execution_id", sa.String(length=64), nullable=True),
        sa.Column("outputs", LONG_TEXT, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cache_key", "run_id", "task_id", name=op.f("pk_cache_entries")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("cache_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cache_entries__cache_key_created_at"),
            ["cache_key", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("cache_entries")
