"""Run counters per experiment, storage state and state (for cheap total_size).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL_TABLE_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "run_counts",
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("storage_state", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("run_count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_run_counts__experiment_id__experiments"),
        ),
        sa.PrimaryKeyConstraint(
            "experiment_id", "storage_state", "state", name=op.f("pk_run_counts")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    # Runs that exist already are counted once, here.
    op.execute(
        "INSERT INTO run_counts (experiment_id, storage_state, state, run_count) "
        "SELECT experiment_id, storage_state, state, COUNT(*) FROM runs "
        "GROUP BY experiment_id, storage_state, state"
    )


def downgrade() -> None:
    op.drop_table("run_counts")
