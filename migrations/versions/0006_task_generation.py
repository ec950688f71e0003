"""Task rows remember the run generation that last reported them (retries restart tasks).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 04:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_tasks") as batch:
        batch.add_column(
            sa.Column("generation", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    # The default only fills existing rows; the application always sets the value.
    with op.batch_alter_table("run_tasks") as batch:
        batch.alter_column(
            "generation", server_default=None, existing_type=sa.Integer(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("run_tasks") as batch:
        batch.drop_column("generation")
