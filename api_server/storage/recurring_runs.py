"""Recurring-run rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from api_server.listing import Field, FieldKind, ListOptions
from domain.resources import RecurringRun
from domain.states import RecurringRunStatus, enum_names

from .listing_support import list_page
from .rows import RecurringRunRow

RECURRING_RUNS: Table = RecurringRunRow.__table__  # type: ignore[assignment]
FIELDS = {
    "recurring_run_id": Field(FieldKind.STRING, sortable=True),
    "display_name": Field(FieldKind.STRING, sortable=True),
    "description": Field(FieldKind.STRING),
    "created_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "updated_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "pipeline_id": Field(FieldKind.STRING),
    "pipeline_version_id": Field(FieldKind.STRING),
    "experiment_id": Field(FieldKind.STRING),
    "namespace": Field(FieldKind.STRING),
    "status": Field(FieldKind.ENUM, enum_names=enum_names(RecurringRunStatus)),
}
COLUMNS: dict[str, Any] = {
    "recurring_run_id": RECURRING_RUNS.c.recurring_run_id,
    "display_name": RECURRING_RUNS.c.display_name,
    "description": RECURRING_RUNS.c.description,
    "created_at": RECURRING_RUNS.c.created_at,
    "updated_at": RECURRING_RUNS.c.updated_at,
    "pipeline_id": RECURRING_RUNS.c.pipeline_id,
    "pipeline_version_id": RECURRING_RUNS.c.pipeline_version_id,
    "experiment_id": RECURRING_RUNS.c.experiment_id,
    "namespace": RECURRING_RUNS.c.namespace,
    "status": RECURRING_RUNS.c.status,
}

_COPIED = (
    "recurring_run_id",
    "display_name",
    "description",
    "experiment_id",
    "namespace",
    "pipeline_id",
    "pipeline_version_id",
    "spec_digest",
    "runtime_config",
    "service_account",
    "max_concurrency",
    "cron",
    "interval_seconds",
    "start_time",
    "end_time",
    "no_catchup",
    "status",
    "plugins_input",
    "created_at",
    "updated_at",
)


def to_domain(row: Any) -> RecurringRun:
    return RecurringRun(**{name: getattr(row, name) for name in _COPIED})


def insert(session: Session, recurring_run: RecurringRun, storage_state: str) -> None:
    values = {name: getattr(recurring_run, name) for name in _COPIED}
    session.add(RecurringRunRow(storage_state=storage_state, **values))
    session.flush()


def get(session: Session, recurring_run_id: str) -> RecurringRun | None:
    row = session.get(RecurringRunRow, recurring_run_id)
    return None if row is None else to_domain(row)


def find_by_name(session: Session, namespace: str, display_name: str) -> RecurringRun | None:
    row = session.execute(
        select(RecurringRunRow).where(
            RecurringRunRow.namespace == namespace, RecurringRunRow.display_name == display_name
        )
    ).scalar_one_or_none()
    return None if row is None else to_domain(row)


def list_recurring_runs(
    session: Session, options: ListOptions, *, scope: dict[str, Any], secret: bytes
) -> tuple[list[RecurringRun], int, str]:
    stmt = select(RECURRING_RUNS)
    if scope.get("experiment_id") is not None:
        stmt = stmt.where(RECURRING_RUNS.c.experiment_id == scope["experiment_id"])
    if scope.get("namespace") is not None:
        stmt = stmt.where(RECURRING_RUNS.c.namespace == scope["namespace"])
    rows, total, token = list_page(
        session, stmt, options, COLUMNS, RECURRING_RUNS.c.recurring_run_id, secret
    )
    return [to_domain(r) for r in rows], total, token


def set_fields(session: Session, recurring_run_id: str, values: dict[str, Any]) -> None:
    session.execute(
        update(RecurringRunRow)
        .where(RecurringRunRow.recurring_run_id == recurring_run_id)
        .values(**values)
    )


def set_for_experiment(session: Session, experiment_id: str, values: dict[str, Any]) -> None:
    session.execute(
        update(RecurringRunRow)
        .where(RecurringRunRow.experiment_id == experiment_id)
        .values(**values)
    )


def delete(session: Session, recurring_run_id: str) -> None:
    session.execute(
        sql_delete(RecurringRunRow).where(RecurringRunRow.recurring_run_id == recurring_run_id)
    )


def delete_for_experiment(session: Session, experiment_id: str) -> None:
    session.execute(
        sql_delete(RecurringRunRow).where(RecurringRunRow.experiment_id == experiment_id)
    )
