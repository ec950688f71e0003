"""The ML-Metadata data model as SQLAlchemy rows, in a MetaData of the store's own.

Created only by Alembic (``migrations/versions/0003_metadata_store.py``); a test compares these
tables with the migrated schema on every backend. Names follow the API server's naming
convention, and every table is prefixed ``mlmd_`` so the store can share the main database.

Times are BIGINT milliseconds since the epoch, named as ML-Metadata names them: its clients
filter and order on these fields, in that unit, so storing them as they travel keeps every
predicate a plain column comparison. Properties of the three node kinds live in
one table per kind, a row per (node, custom?, name) with the value in the column of its kind.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.schema import NAMING_CONVENTION

# SQLite only autoincrements an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
BIG_ID = BigInteger().with_variant(Integer, "sqlite")
NAME = String(255)  # MySQL unique keys on utf8mb4 need <= 768 bytes per column
LONG_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
LONG_BINARY = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

# mlmd_types.kind
ARTIFACT_TYPE = 0
EXECUTION_TYPE = 1
CONTEXT_TYPE = 2


class MetadataBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TypeRow(MetadataBase):
    """An artifact, execution or context type (``kind``), unique by name and version."""

    __tablename__ = "mlmd_types"
    __table_args__ = (
        UniqueConstraint("kind", "name", "version"),
        UniqueConstraint("kind", "external_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    kind: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    name: Mapped[str] = mapped_column(NAME, nullable=False)
    # "" when the type has no version: NULLs would not take part in the unique key.
    version: Mapped[str] = mapped_column(NAME, nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_id: Mapped[str | None] = mapped_column(NAME, nullable=True)
    base_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Serialised ArtifactStructType messages of an execution type, kept as given.
    input_type: Mapped[bytes | None] = mapped_column(LONG_BINARY, nullable=True)
    output_type: Mapped[bytes | None] = mapped_column(LONG_BINARY, nullable=True)


class TypePropertyRow(MetadataBase):
    __tablename__ = "mlmd_type_properties"

    type_id: Mapped[int] = mapped_column(ForeignKey("mlmd_types.id"), primary_key=True)
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    data_type: Mapped[int] = mapped_column(SmallInteger, nullable=False)


class ArtifactRow(MetadataBase):
    __tablename__ = "mlmd_artifacts"
    __table_args__ = (
        UniqueConstraint("type_id", "name"),
        UniqueConstraint("external_id"),
        Index(None, "type_id", "id"),
        Index(None, "uri_digest"),
        Index(None, "create_time_since_epoch", "id"),
        Index(None, "last_update_time_since_epoch", "id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("mlmd_types.id"), nullable=False)
    name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    uri: Mapped[str | None] = mapped_column(LONG_TEXT, nullable=True)
    # sha256 hex of the uri: an index on URIs of any length, on every backend.
    uri_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    external_id: Mapped[str | None] = mapped_column(NAME, nullable=True)
    state: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    create_time_since_epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_update_time_since_epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ExecutionRow(MetadataBase):
    __tablename__ = "mlmd_executions"
    __table_args__ = (
        UniqueConstraint("type_id", "name"),
        UniqueConstraint("external_id"),
        Index(None, "type_id", "id"),
        Index(None, "create_time_since_epoch", "id"),
        Index(None, "last_update_time_since_epoch", "id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("mlmd_types.id"), nullable=False)
    name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    external_id: Mapped[str | None] = mapped_column(NAME, nullable=True)
    last_known_state: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    create_time_since_epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_update_time_since_epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ContextRow(MetadataBase):
    __tablename__ = "mlmd_contexts"
    __table_args__ = (
        UniqueConstraint("type_id", "name"),
        UniqueConstraint("external_id"),
        Index(None, "create_time_since_epoch", "id"),
        Index(None, "last_update_time_since_epoch", "id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("mlmd_types.id"), nullable=False)
    name: Mapped[str] = mapped_column(NAME, nullable=False)
    external_id: Mapped[str | None] = mapped_column(NAME, nullable=True)
    create_time_since_epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_update_time_since_epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)


class _PropertyColumns:
    """A property value: ``kind`` is the PropertyType number, the value sits in its column.

    STRUCT keeps canonical JSON in ``string_value``; PROTO keeps the Any's type URL in
    ``string_value`` and its bytes in ``bytes_value``.
    """

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    is_custom: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    int_value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    double_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    string_value: Mapped[str | None] = mapped_column(LONG_TEXT, nullable=True)
    bytes_value: Mapped[bytes | None] = mapped_column(LONG_BINARY, nullable=True)
    bool_value: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class ArtifactPropertyRow(_PropertyColumns, MetadataBase):
    __tablename__ = "mlmd_artifact_properties"

    node_id: Mapped[int] = mapped_column(ForeignKey("mlmd_artifacts.id"), primary_key=True)


class ExecutionPropertyRow(_PropertyColumns, MetadataBase):
    __tablename__ = "mlmd_execution_properties"

    node_id: Mapped[int] = mapped_column(ForeignKey("mlmd_executions.id"), primary_key=True)


class ContextPropertyRow(_PropertyColumns, MetadataBase):
    __tablename__ = "mlmd_context_properties"

    node_id: Mapped[int] = mapped_column(ForeignKey("mlmd_contexts.id"), primary_key=True)


class EventRow(MetadataBase):
    """An edge between an artifact and an execution; ``path`` is JSON of the path steps."""

    __tablename__ = "mlmd_events"
    __table_args__ = (
        UniqueConstraint("artifact_id", "execution_id", "type"),
        Index(None, "execution_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("mlmd_artifacts.id"), nullable=False)
    execution_id: Mapped[int] = mapped_column(ForeignKey("mlmd_executions.id"), nullable=False)
    type: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    milliseconds_since_epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AttributionRow(MetadataBase):
    __tablename__ = "mlmd_attributions"
    __table_args__ = (Index(None, "artifact_id"),)

    context_id: Mapped[int] = mapped_column(ForeignKey("mlmd_contexts.id"), primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("mlmd_artifacts.id"), primary_key=True)


class AssociationRow(MetadataBase):
    __tablename__ = "mlmd_associations"
    __table_args__ = (Index(None, "execution_id"),)

    context_id: Mapped[int] = mapped_column(ForeignKey("mlmd_contexts.id"), primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("mlmd_executions.id"), primary_key=True)


class ParentContextRow(MetadataBase):
    __tablename__ = "mlmd_parent_contexts"
    __table_args__ = (Index(None, "parent_context_id"),)

    context_id: Mapped[int] = mapped_column(ForeignKey("mlmd_contexts.id"), primary_key=True)
    parent_context_id: Mapped[int] = mapped_column(ForeignKey("mlmd_contexts.id"), primary_key=True)


PROPERTY_ROWS = {
    "artifact": ArtifactPropertyRow,
    "execution": ExecutionPropertyRow,
    "context": ContextPropertyRow,
}
