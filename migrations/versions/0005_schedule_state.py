"""Schedule state on recurring runs: the cursor, the next wake time (indexed with status
for the scheduler's one query) and the run index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 04:15:00
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recurring_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fire_after", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("next_fire_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("last_index", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            batch_op.f("ix_recurring_runs__status_next_fire_at"),
            ["status", "next_fire_at"],
            unique=False,
        )
    # Schedules that exist already never fired (there was no scheduler): they start from
    # now, or their start time if later, rather than backfilling their whole past on the
    # first start after the upgrade. The scheduler looks at each once and stores its real
    # next slot.
    now = int(time.time() * 1_000_000)
    op.execute(
        sa.text(
            "UPDATE recurring_runs SET fire_after = CASE WHEN start_time > :now "
            "THEN start_time ELSE :now END"
        ).bindparams(now=now)
    )
    op.execute("UPDATE recurring_runs SET next_fire_at = fire_after")


def downgrade() -> None:
    with op.batch_alter_table("recurring_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recurring_runs__status_next_fire_at"))
        batch_op.drop_column("last_index")
        batch_op.drop_column("next_fire_at")
        batch_op.drop_column("fire_after")
