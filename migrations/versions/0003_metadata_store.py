"""The metadata store: ML-Metadata types, artifacts, executions, contexts, events, links.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:56:24.609731
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
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
        "mlmd_types",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("base_type", sa.Integer(), nullable=True),
        sa.Column("input_type", LONG_BINARY, nullable=True),
        sa.Column("output_type", LONG_BINARY, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlmd_types")),
        sa.UniqueConstraint("kind", "external_id", name=op.f("uq_mlmd_types__kind_external_id")),
        sa.UniqueConstraint(
            "kind", "name", "version", name=op.f("uq_mlmd_types__kind_name_version")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "mlmd_artifacts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("type_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("uri", LONG_TEXT, nullable=True),
        sa.Column("uri_digest", sa.String(length=64), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("state", sa.SmallInteger(), nullable=True),
        sa.Column("create_time_since_epoch", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time_since_epoch", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["type_id"], ["mlmd_types.id"], name=op.f("fk_mlmd_artifacts__type_id__mlmd_types")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlmd_artifacts")),
        sa.UniqueConstraint("external_id", name=op.f("uq_mlmd_artifacts__external_id")),
        sa.UniqueConstraint("type_id", "name", name=op.f("uq_mlmd_artifacts__type_id_name")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("mlmd_artifacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mlmd_artifacts__create_time_since_epoch_id"),
            ["create_time_since_epoch", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_mlmd_artifacts__type_id_id"), ["type_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mlmd_artifacts__last_update_time_since_epoch_id"),
            ["last_update_time_since_epoch", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_mlmd_artifacts__uri_digest"), ["uri_digest"], unique=False
        )

    op.create_table(
        "mlmd_contexts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("type_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("create_time_since_epoch", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time_since_epoch", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["type_id"], ["mlmd_types.id"], name=op.f("fk_mlmd_contexts__type_id__mlmd_types")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlmd_contexts")),
        sa.UniqueConstraint("external_id", name=op.f("uq_mlmd_contexts__external_id")),
        sa.UniqueConstraint("type_id", "name", name=op.f("uq_mlmd_contexts__type_id_name")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("mlmd_contexts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mlmd_contexts__create_time_since_epoch_id"),
            ["create_time_since_epoch", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_mlmd_contexts__last_update_time_since_epoch_id"),
            ["last_update_time_since_epoch", "id"],
            unique=False,
        )

    op.create_table(
        "mlmd_executions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("type_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("last_known_state", sa.SmallInteger(), nullable=True),
        sa.Column("create_time_since_epoch", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time_since_epoch", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["type_id"], ["mlmd_types.id"], name=op.f("fk_mlmd_executions__type_id__mlmd_types")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlmd_executions")),
        sa.UniqueConstraint("external_id", name=op.f("uq_mlmd_executions__external_id")),
        sa.UniqueConstraint("type_id", "name", name=op.f("uq_mlmd_executions__type_id_name")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("mlmd_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mlmd_executions__create_time_since_epoch_id"),
            ["create_time_since_epoch", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_mlmd_executions__type_id_id"), ["type_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mlmd_executions__last_update_time_since_epoch_id"),
            ["last_update_time_since_epoch", "id"],
            unique=False,
        )

    op.create_table(
        "mlmd_type_properties",
        sa.Column("type_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data_type", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["mlmd_types.id"],
            name=op.f("fk_mlmd_type_properties__type_id__mlmd_types"),
        ),
        sa.PrimaryKeyConstraint("type_id", "name", name=op.f("pk_mlmd_type_properties")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "mlmd_artifact_properties",
        sa.Column("node_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_custom", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("int_value", sa.BigInteger(), nullable=True),
        sa.Column("double_value", sa.Double(), nullable=True),
        sa.Column("string_value", LONG_TEXT, nullable=True),
        sa.Column("bytes_value", LONG_BINARY, nullable=True),
        sa.Column("bool_value", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["mlmd_artifacts.id"],
            name=op.f("fk_mlmd_artifact_properties__node_id__mlmd_artifacts"),
        ),
        sa.PrimaryKeyConstraint(
            "node_id", "name", "is_custom", name=op.f("pk_mlmd_artifact_properties")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "mlmd_associations",
        sa.Column("context_id", BIG_ID, nullable=False),
        sa.Column("execution_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["context_id"],
            ["mlmd_contexts.id"],
            name=op.f("fk_mlmd_associations__context_id__mlmd_contexts"),
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["mlmd_executions.id"],
            name=op.f("fk_mlmd_associations__execution_id__mlmd_executions"),
        ),
        sa.PrimaryKeyConstraint("context_id", "execution_id", name=op.f("pk_mlmd_associations")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("mlmd_associations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mlmd_associations__execution_id"), ["execution_id"], unique=False
        )

    op.create_table(
        "mlmd_attributions",
        sa.Column("context_id", BIG_ID, nullable=False),
        sa.Column("artifact_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["mlmd_artifacts.id"],
            name=op.f("fk_mlmd_attributions__artifact_id__mlmd_artifacts"),
        ),
        sa.ForeignKeyConstraint(
            ["context_id"],
            ["mlmd_contexts.id"],
            name=op.f("fk_mlmd_attributions__context_id__mlmd_contexts"),
        ),
        sa.PrimaryKeyConstraint("context_id", "artifact_id", name=op.f("pk_mlmd_attributions")),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("mlmd_attributions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mlmd_attributions__artifact_id"), ["artifact_id"], unique=False
        )

    op.create_table(
        "mlmd_context_properties",
        sa.Column("node_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_custom", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("int_value", sa.BigInteger(), nullable=True),
        sa.Column("double_value", sa.Double(), nullable=True),
        sa.Column("string_value", LONG_TEXT, nullable=True),
        sa.Column("bytes_value", LONG_BINARY, nullable=True),
        sa.Column("bool_value", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["mlmd_contexts.id"],
            name=op.f("fk_mlmd_context_properties__node_id__mlmd_contexts"),
        ),
        sa.PrimaryKeyConstraint(
            "node_id", "name", "is_custom", name=op.f("pk_mlmd_context_properties")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "mlmd_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("artifact_id", BIG_ID, nullable=False),
        sa.Column("execution_id", BIG_ID, nullable=False),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("milliseconds_since_epoch", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["mlmd_artifacts.id"],
            name=op.f("fk_mlmd_events__artifact_id__mlmd_artifacts"),
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["mlmd_executions.id"],
            name=op.f("fk_mlmd_events__execution_id__mlmd_executions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlmd_events")),
        sa.UniqueConstraint(
            "artifact_id",
            "execution_id",
            "type",
            name=op.f("uq_mlmd_events__artifact_id_execution_id_type"),
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("mlmd_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mlmd_events__execution_id"), ["execution_id"], unique=False
        )

    op.create_table(
        "mlmd_execution_properties",
        sa.Column("node_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_custom", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("int_value", sa.BigInteger(), nullable=True),
        sa.Column("double_value", sa.Double(), nullable=True),
        sa.Column("string_value", LONG_TEXT, nullable=True),
        sa.Column("bytes_value", LONG_BINARY, nullable=True),
        sa.Column("bool_value", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["mlmd_executions.id"],
            name=op.f("fk_mlmd_execution_properties__node_id__mlmd_executions"),
        ),
        sa.PrimaryKeyConstraint(
            "node_id", "name", "is_custom", name=op.f("pk_mlmd_execution_properties")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "mlmd_parent_contexts",
        sa.Column("context_id", BIG_ID, nullable=False),
        sa.Column("parent_context_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["context_id"],
            ["mlmd_contexts.id"],
            name=op.f("fk_mlmd_parent_contexts__context_id__mlmd_contexts"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_context_id"],
            ["mlmd_contexts.id"],
            name=op.f("fk_mlmd_parent_contexts__parent_context_id__mlmd_contexts"),
        ),
        sa.PrimaryKeyConstraint(
            "context_id", "parent_context_id", name=op.f("pk_mlmd_parent_contexts")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    with op.batch_alter_table("mlmd_parent_contexts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mlmd_parent_contexts__parent_context_id"),
            ["parent_context_id"],
            unique=False,
        )


def downgrade() -> None:
    # Dropping a table drops its indexes (MySQL refuses to drop an index backing a foreign key).
    op.drop_table("mlmd_parent_contexts")
    op.drop_table("mlmd_execution_properties")
    op.drop_table("mlmd_events")
    op.drop_table("mlmd_context_properties")
    op.drop_table("mlmd_attributions")
    op.drop_table("mlmd_associations")
    op.drop_table("mlmd_artifact_properties")
    op.drop_table("mlmd_type_properties")
    op.drop_table("mlmd_executions")
    op.drop_table("mlmd_contexts")
    op.drop_table("mlmd_artifacts")
    op.drop_table("mlmd_types")
