"""Recurring-run rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from api_server.listing import Field, FieldKind, ListOptions
from domain.resources import RecurringRun
from domain.schema import in_chunks
from domain.states import RecurringRunStatus, enum_names

from .listing_support import list_page
from .rows import RecurringRunRow
from .types import EpochMicros

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


def insert(
    session: Session,
    recurring_run: RecurringRun,
    storage_state: str,
    schedule_state: dict[str, Any] | None = None,
) -> None:
    """Insert a recurring run; ``schedule_state``: fire_after / next_fire_at / last_index."""
    values = {name: getattr(recurring_run, name) for name in _COPIED}
    session.add(RecurringRunRow(storage_state=storage_state, **values, **(schedule_state or {})))
    session.flush()


def get(session: Session, recurring_run_id: str) -> RecurringRun | None:
    row = session.get(RecurringRunRow, recurring_run_id)
    return None if row is None else to_domain(row)


def schedule_state(session: Session, recurring_run_id: str) -> dict[str, Any]:
    """The scheduler's columns of one recurring run (which must exist)."""
    row = session.execute(
        select(
            RECURRING_RUNS.c.fire_after, RECURRING_RUNS.c.next_fire_at, RECURRING_RUNS.c.last_index
        ).where(RECURRING_RUNS.c.recurring_run_id == recurring_run_id)
    ).one()
    return dict(row._mapping)


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


# --- schedule state (the scheduler's queries) -------------------------------------------

_ENABLED = RecurringRunStatus.ENABLED.value
_DUE = (
    select(RECURRING_RUNS)
    .where(
        RECURRING_RUNS.c.status == _ENABLED,
        RECURRING_RUNS.c.next_fire_at <= bindparam("b_now", type_=EpochMicros()),
    )
    .order_by(RECURRING_RUNS.c.next_fire_at)
    .limit(bindparam("b_limit"))
)
_EARLIEST = select(func.min(RECURRING_RUNS.c.next_fire_at)).where(
    RECURRING_RUNS.c.status == _ENABLED
)
_ADVANCE = (
    RECURRING_RUNS.update()
    .where(
        RECURRING_RUNS.c.recurring_run_id == bindparam("b_id"),
        RECURRING_RUNS.c.status == _ENABLED,
        RECURRING_RUNS.c.next_fire_at == bindparam("b_expected", type_=EpochMicros()),
    )
    .values(
        fire_after=bindparam("b_fire_after", type_=EpochMicros()),
        next_fire_at=bindparam("b_next", type_=EpochMicros()),
        last_index=bindparam("b_index"),
    )
)


def due(session: Session, now: datetime, limit: int) -> list[Any]:
    """Enabled schedules whose next wake time has come, earliest first (index range scan
    on (status, next_fire_at))."""
    return list(session.connection().execute(_DUE, {"b_now": now, "b_limit": limit}))


_ENABLED_IN = RECURRING_RUNS.c.recurring_run_id.in_(bindparam("b_ids", expanding=True)) & (
    RECURRING_RUNS.c.status == _ENABLED
)
_COUNT_ENABLED = select(func.count()).where(_ENABLED_IN)
_ENABLED_IDS = select(RECURRING_RUNS.c.recurring_run_id).where(_ENABLED_IN)


def enabled_ids(session: Session, recurring_run_ids: list[str]) -> set[str]:
    """Which of the given (distinct) recurring runs exist and are enabled. Usually all of
    them: a count per chunk answers that without fetching thousands of ids."""
    found: set[str] = set()
    connection = session.connection()
    for chunk in in_chunks(recurring_run_ids):
        if connection.execute(_COUNT_ENABLED, {"b_ids": chunk}).scalar_one() == len(chunk):
            found.update(chunk)
        else:
            found.update(connection.execute(_ENABLED_IDS, {"b_ids": chunk}).scalars())
    return found


def earliest_wake(session: Session) -> datetime | None:
    value: datetime | None = session.connection().execute(_EARLIEST).scalar_one_or_none()
    return value


def advance(session: Session, states: list[dict[str, Any]]) -> int:
    """Compare-and-set each schedule's state (``b_id``, ``b_expected`` the next_fire_at read,
    ``b_fire_after``, ``b_next``, ``b_index``); returns the rows changed."""
    if not states:
        return 0
    result = session.connection().execute(_ADVANCE, states)
    return int(result.rowcount)
