"""SQLAlchemy rows. The schema itself is created only by Alembic (``migrations/``); a test
compares these classes with the migrated database so the two never drift.

Relationships are deliberately absent: every query names its joins, so a list can never
turn into N+1 lazy loads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.schema import NAMING_CONVENTION

from .types import EpochMicros, JSONText, LongBinary

ID = String(36)  # uuid4 text, as KFP's ids
NAME = String(255)  # MySQL unique keys on utf8mb4 need <= 768 bytes per column
NAMESPACE = String(63)  # a Kubernetes namespace name
STATE = String(32)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PipelineSpecRow(Base):
    """A pipeline spec (+ platform spec) stored once, addressed by its content digest."""

    __tablename__ = "pipeline_specs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    # zlib-compressed canonical JSON of {"pipeline_spec": ..., "platform_spec": ...}
    body: Mapped[bytes] = mapped_column(LongBinary, nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)


class PipelineRow(Base):
    __tablename__ = "pipelines"
    __table_args__ = (
        UniqueConstraint("namespace", "name"),
        Index(None, "namespace", "created_at", "pipeline_id"),
    )

    pipeline_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, nullable=False)
    display_name: Mapped[str] = mapped_column(NAME, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    namespace: Mapped[str] = mapped_column(NAMESPACE, nullable=False, default="")
    tags: Mapped[dict[str, str] | None] = mapped_column(JSONText, nullable=True)
    created_at: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)


class PipelineVersionRow(Base):
    __tablename__ = "pipeline_versions"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "name"),
        Index(None, "pipeline_id", "created_at", "pipeline_version_id"),
    )

    pipeline_version_id: Mapped[str] = mapped_column(ID, primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(
        ID, ForeignKey("pipelines.pipeline_id"), nullable=False
    )
    name: Mapped[str] = mapped_column(NAME, nullable=False)
    display_name: Mapped[str] = mapped_column(NAME, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    spec_digest: Mapped[str] = mapped_column(
        String(64), ForeignKey("pipeline_specs.digest"), nullable=False, index=True
    )
    package_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    code_source_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[dict[str, str] | None] = mapped_column(JSONText, nullable=True)
    created_at: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("namespace", "display_name"),
        Index(None, "namespace", "created_at", "experiment_id"),
    )

    experiment_id: Mapped[str] = mapped_column(ID, primary_key=True)
    display_name: Mapped[str] = mapped_column(NAME, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    namespace: Mapped[str] = mapped_column(NAMESPACE, nullable=False, default="")
    storage_state: Mapped[str] = mapped_column(STATE, nullable=False)
    created_at: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)
    last_run_created_at: Mapped[datetime | None] = mapped_column(EpochMicros, nullable=True)


class RecurringRunRow(Base):
    __tablename__ = "recurring_runs"
    __table_args__ = (
        UniqueConstraint("namespace", "display_name"),
        Index(None, "experiment_id", "created_at", "recurring_run_id"),
        Index(None, "namespace", "created_at", "recurring_run_id"),
        # The scheduler's one query: enabled schedules by their next wake time.
        Index(None, "status", "next_fire_at"),
    )

    recurring_run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    display_name: Mapped[str] = mapped_column(NAME, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    experiment_id: Mapped[str] = mapped_column(
        ID, ForeignKey("experiments.experiment_id"), nullable=False
    )
    namespace: Mapped[str] = mapped_column(NAMESPACE, nullable=False, default="")
    pipeline_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    pipeline_version_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    spec_digest: Mapped[str] = mapped_column(
        String(64), ForeignKey("pipeline_specs.digest"), nullable=False, index=True
    )
    runtime_config: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    service_account: Mapped[str] = mapped_column(NAME, nullable=False, default="")
    max_concurrency: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Trigger: exactly one of cron / interval_seconds is set.
    cron: Mapped[str | None] = mapped_column(String(255), nullable=True)
    interval_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    start_time: Mapped[datetime | None] = mapped_column(EpochMicros, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(EpochMicros, nullable=True)
    no_catchup: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(STATE, nullable=False)
    storage_state: Mapped[str] = mapped_column(STATE, nullable=False)
    plugins_input: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    created_at: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)
    # Schedule state (scheduled_controller): slots at or before ``fire_after`` never fire
    # (the last fired slot, or when the schedule started or was re-enabled); the scheduler
    # looks at the row again at ``next_fire_at`` (NULL: never); ``last_index`` numbers runs.
    fire_after: Mapped[datetime | None] = mapped_column(EpochMicros, nullable=True)
    next_fire_at: Mapped[datetime | None] = mapped_column(EpochMicros, nullable=True)
    last_index: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default="0"
    )


class RunRow(Base):
    """A run: a lean row. The spec lives in ``pipeline_specs``; history and tasks apart."""

    __tablename__ = "runs"
    __table_args__ = (
        Index(None, "experiment_id", "created_at", "run_id"),
        Index(None, "namespace", "created_at", "run_id"),
        Index(None, "recurring_run_id", "created_at"),
        Index(None, "state", "created_at"),
    )

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    experiment_id: Mapped[str] = mapped_column(
        ID, ForeignKey("experiments.experiment_id"), nullable=False
    )
    namespace: Mapped[str] = mapped_column(NAMESPACE, nullable=False, default="")
    display_name: Mapped[str] = mapped_column(NAME, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # No foreign keys to pipelines/versions: deleting a version must not delete its runs.
    pipeline_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    pipeline_version_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    spec_digest: Mapped[str] = mapped_column(
        String(64), ForeignKey("pipeline_specs.digest"), nullable=False, index=True
    )
    runtime_config: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    service_account: Mapped[str] = mapped_column(NAME, nullable=False, default="")
    storage_state: Mapped[str] = mapped_column(STATE, nullable=False)
    state: Mapped[str] = mapped_column(STATE, nullable=False)
    state_updated_at: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)
    # Incremented by each retry; status events of an older generation are stale.
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    recurring_run_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    plugins_input: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    created_at: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)
    scheduled_at: Mapped[datetime | None] = mapped_column(EpochMicros, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(EpochMicros, nullable=True)


class RunCountRow(Base):
    """How many runs an experiment has in each (storage_state, state): kept in the same
    transaction as every change to runs, so ``total_size`` of the common lists is a sum
    over a few rows instead of a count over the runs index. Changed only under the
    experiment's row lock (or SQLite's single writer), which orders concurrent writers."""

    __tablename__ = "run_counts"

    experiment_id: Mapped[str] = mapped_column(
        ID, ForeignKey("experiments.experiment_id"), primary_key=True
    )
    storage_state: Mapped[str] = mapped_column(STATE, primary_key=True)
    state: Mapped[str] = mapped_column(STATE, primary_key=True)
    run_count: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RunStateRow(Base):
    """One row per state change of a run, written in the transaction that changed it."""

    __tablename__ = "run_state_history"
    __table_args__ = (Index(None, "run_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(
        ID, ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False
    )
    state: Mapped[str] = mapped_column(STATE, nullable=False)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    update_time: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)


class TaskRow(Base):
    """A node of a run (task, DAG, loop iteration) as the run backend reports it."""

    __tablename__ = "run_tasks"
    __table_args__ = (Index(None, "run_id", "create_time", "task_id"),)

    task_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_id: Mapped[str] = mapped_column(
        ID, ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False
    )
    parent_task_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    display_name: Mapped[str] = mapped_column(NAME, nullable=False, default="")
    state: Mapped[str] = mapped_column(STATE, nullable=False)
    # The run generation that last reported this task: a retry's events may restart it.
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    create_time: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)
    start_time: Mapped[datetime | None] = mapped_column(EpochMicros, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(EpochMicros, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    execution_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pod_name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    # {"main_job": ..., "failed_main_jobs": [...], ...}, {"name": {"artifact_ids": [...]}}
    executor_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)


class TaskStateRow(Base):
    __tablename__ = "task_state_history"
    __table_args__ = (Index(None, "task_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    task_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("run_tasks.task_id", ondelete="CASCADE"), nullable=False
    )
    state: Mapped[str] = mapped_column(STATE, nullable=False)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONText, nullable=True)
    update_time: Mapped[datetime] = mapped_column(EpochMicros, nullable=False)
