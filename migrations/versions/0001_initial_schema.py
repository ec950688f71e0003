"""Initial schema: pipelines, versions, specs, experiments, runs, tasks, recurring runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 02:02:30.978444
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types at this revision (migrations never import app code).
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
LONG_BINARY = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Binary collation: names compare case-sensitively, as on SQLite and PostgreSQL.
MYSQL_TABLE_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("storage_state", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_run_created_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_experiments")),
        sa.UniqueConstraint(
            "namespace", "display_name", name=op.f("uq_experiments__namespace_display_name")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experiments__namespace_created_at_experiment_id"),
            ["namespace", "created_at", "experiment_id"],
            unique=False,
        )

    op.create_table(
        "pipeline_specs",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("body", LONG_BINARY, nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_pipeline_specs")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "pipelines",
        sa.Column("pipeline_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("tags", LONG_TEXT, nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline_id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("namespace", "name", name=op.f("uq_pipelines__namespace_name")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipelines__namespace_created_at_pipeline_id"),
            ["namespace", "created_at", "pipeline_id"],
            unique=False,
        )

    op.create_table(
        "pipeline_versions",
        sa.Column("pipeline_version_id", sa.String(length=36), nullable=False),
        sa.Column("pipeline_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec_digest", sa.String(length=64), nullable=False),
        sa.Column("package_url", sa.Text(), nullable=True),
        sa.Column("code_source_url", sa.Text(), nullable=True),
        sa.Column("tags", LONG_TEXT, nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.pipeline_id"],
            name=op.f("fk_pipeline_versions__pipeline_id__pipelines"),
        ),
        sa.ForeignKeyConstraint(
            ["spec_digest"],
            ["pipeline_specs.digest"],
            name=op.f("fk_pipeline_versions__spec_digest__pipeline_specs"),
        ),
        sa.PrimaryKeyConstraint("pipeline_version_id", name=op.f("pk_pipeline_versions")),
        sa.UniqueConstraint(
            "pipeline_id", "name", name=op.f("uq_pipeline_versions__pipeline_id_name")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("pipeline_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_versions__pipeline_id_created_at_pipeline_version_id"),
            ["pipeline_id", "created_at", "pipeline_version_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_pipeline_versions__spec_digest"), ["spec_digest"], unique=False
        )

    op.create_table(
        "recurring_runs",
        sa.Column("recurring_run_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("pipeline_id", sa.String(length=36), nullable=True),
        sa.Column("pipeline_version_id", sa.String(length=36), nullable=True),
        sa.Column("spec_digest", sa.String(length=64), nullable=False),
        sa.Column("runtime_config", LONG_TEXT, nullable=True),
        sa.Column("service_account", sa.String(length=255), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("interval_seconds", sa.BigInteger(), nullable=True),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("no_catchup", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("storage_state", sa.String(length=32), nullable=False),
        sa.Column("plugins_input", LONG_TEXT, nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_recurring_runs__experiment_id__experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["spec_digest"],
            ["pipeline_specs.digest"],
            name=op.f("fk_recurring_runs__spec_digest__pipeline_specs"),
        ),
        sa.PrimaryKeyConstraint("recurring_run_id", name=op.f("pk_recurring_runs")),
        sa.UniqueConstraint(
            "namespace", "display_name", name=op.f("uq_recurring_runs__namespace_display_name")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("recurring_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recurring_runs__experiment_id_created_at_recurring_run_id"),
            ["experiment_id", "created_at", "recurring_run_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_recurring_runs__namespace_created_at_recurring_run_id"),
            ["namespace", "created_at", "recurring_run_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_recurring_runs__spec_digest"), ["spec_digest"], unique=False
        )

    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("pipeline_id", sa.String(length=36), nullable=True),
        sa.Column("pipeline_version_id", sa.String(length=36), nullable=True),
        sa.Column("spec_digest", sa.String(length=64), nullable=False),
        sa.Column("runtime_config", LONG_TEXT, nullable=True),
        sa.Column("service_account", sa.String(length=255), nullable=False),
        sa.Column("storage_state", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("state_updated_at", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("error", LONG_TEXT, nullable=True),
        sa.Column("recurring_run_id", sa.String(length=36), nullable=True),
        sa.Column("plugins_input", LONG_TEXT, nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("scheduled_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_runs__experiment_id__experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["spec_digest"],
            ["pipeline_specs.digest"],
            name=op.f("fk_runs__spec_digest__pipeline_specs"),
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_runs__experiment_id_created_at_run_id"),
            ["experiment_id", "created_at", "run_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_runs__namespace_created_at_run_id"),
            ["namespace", "created_at", "run_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_runs__recurring_run_id_created_at"),
            ["recurring_run_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_runs__spec_digest"), ["spec_digest"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_runs__state_created_at"), ["state", "created_at"], unique=False
        )

    op.create_table(
        "run_state_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("error", LONG_TEXT, nullable=True),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name=op.f("fk_run_state_history__run_id__runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_state_history")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("run_state_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_run_state_history__run_id_id"), ["run_id", "id"], unique=False
        )

    op.create_table(
        "run_tasks",
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("parent_task_id", sa.String(length=128), nullable=True),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("error", LONG_TEXT, nullable=True),
        sa.Column("execution_id", sa.String(length=64), nullable=True),
        sa.Column("pod_name", sa.String(length=255), nullable=True),
        sa.Column("executor_detail", LONG_TEXT, nullable=True),
        sa.Column("inputs", LONG_TEXT, nullable=True),
        sa.Column("outputs", LONG_TEXT, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_run_tasks__run_id__runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_run_tasks")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("run_tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_run_tasks__run_id_create_time_task_id"),
            ["run_id", "create_time", "task_id"],
            unique=False,
        )

    op.create_table(
        "task_state_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("error", LONG_TEXT, nullable=True),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["run_tasks.task_id"],
            name=op.f("fk_task_state_history__task_id__run_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_state_history")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("task_state_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_state_history__task_id_id"), ["task_id", "id"], unique=False
        )


def downgrade() -> None:
    # Dropping a table drops its indexes; MySQL refuses to drop an index backing a foreign key.
    for table in (
        "task_state_history",
        "run_tasks",
        "run_state_history",
        "runs",
        "recurring_runs",
        "pipeline_versions",
        "pipelines",
        "pipeline_specs",
        "experiments",
    ):
        op.drop_table(table)
