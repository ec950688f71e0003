"""Experiment rows: queries take ``session`` and never commit (the unit of work does)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, case, or_, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from api_server.listing import Field, FieldKind, ListOptions
from domain.resources import Experiment
from domain.states import StorageState, enum_names

from .dialects import insert_ignoring_duplicates
from .listing_support import list_page
from .rows import ExperimentRow
from .types import EpochMicros

EXPERIMENTS: Table = ExperimentRow.__table__  # type: ignore[assignment]

FIELDS = {
    "experiment_id": Field(FieldKind.STRING, sortable=True),
    "display_name": Field(FieldKind.STRING, sortable=True),
    "description": Field(FieldKind.STRING),
    "created_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "last_run_created_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "namespace": Field(FieldKind.STRING),
    "storage_state": Field(FieldKind.ENUM, enum_names=enum_names(StorageState)),
}
COLUMNS: dict[str, Any] = {
    "experiment_id": EXPERIMENTS.c.experiment_id,
    "display_name": EXPERIMENTS.c.display_name,
    "description": EXPERIMENTS.c.description,
    "created_at": EXPERIMENTS.c.created_at,
    "last_run_created_at": EXPERIMENTS.c.last_run_created_at,
    "namespace": EXPERIMENTS.c.namespace,
    "storage_state": EXPERIMENTS.c.storage_state,
}


def to_domain(row: Any) -> Experiment:
    return Experiment(
        experiment_id=row.experiment_id,
        display_name=row.display_name,
        description=row.description,
        namespace=row.namespace,
        storage_state=row.storage_state,
        created_at=row.created_at,
        last_run_created_at=row.last_run_created_at,
    )


def insert(session: Session, experiment: Experiment) -> None:
    session.add(
        ExperimentRow(
            experiment_id=experiment.experiment_id,
            display_name=experiment.display_name,
            description=experiment.description,
            namespace=experiment.namespace,
            storage_state=experiment.storage_state,
            created_at=experiment.created_at,
            last_run_created_at=experiment.last_run_created_at,
        )
    )
    session.flush()


_GET = select(EXPERIMENTS).where(EXPERIMENTS.c.experiment_id == bindparam("experiment_id"))
_GET_FOR_UPDATE = _GET.with_for_update()
# Bind names differ from column names: Core reserves those for UPDATE's SET clause.
_LAST_RUN = EXPERIMENTS.c.last_run_created_at
_RUN_CREATED = bindparam("b_created_at", type_=EpochMicros())
_CLAIM = (
    EXPERIMENTS.update()
    .where(
        EXPERIMENTS.c.experiment_id == bindparam("b_experiment_id"),
        EXPERIMENTS.c.storage_state == StorageState.AVAILABLE.value,
    )
    .values(
        last_run_created_at=case(
            (
                or_(
                    _LAST_RUN.is_(None), bindparam("b_created_at", type_=EpochMicros()) > _LAST_RUN
                ),
                bindparam("b_created_at", type_=EpochMicros()),
            ),
            else_=_LAST_RUN,
        )
    )
)


def get(session: Session, experiment_id: str, *, for_update: bool = False) -> Experiment | None:
    stmt = _GET_FOR_UPDATE if for_update else _GET
    row = session.connection().execute(stmt, {"experiment_id": experiment_id}).one_or_none()
    return None if row is None else to_domain(row)


def find_by_name(
    session: Session, namespace: str, display_name: str, *, for_update: bool = False
) -> Experiment | None:
    stmt = select(ExperimentRow).where(
        ExperimentRow.namespace == namespace, ExperimentRow.display_name == display_name
    )
    if for_update:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).scalar_one_or_none()
    return None if row is None else to_domain(row)


def insert_if_absent(session: Session, experiment: Experiment) -> bool:
    """Insert unless the namespace already has an experiment of that name; True if inserted.
    One statement, so writers racing to create the same experiment never fail."""
    return insert_ignoring_duplicates(
        session,
        ExperimentRow.__table__,  # type: ignore[arg-type]
        {
            "experiment_id": experiment.experiment_id,
            "display_name": experiment.display_name,
            "description": experiment.description,
            "namespace": experiment.namespace,
            "storage_state": experiment.storage_state,
            "created_at": experiment.created_at,
            "last_run_created_at": experiment.last_run_created_at,
        },
    )


def list_experiments(
    session: Session, options: ListOptions, *, namespace: str | None, secret: bytes
) -> tuple[list[Experiment], int, str]:
    stmt = select(EXPERIMENTS)
    if namespace is not None:
        stmt = stmt.where(EXPERIMENTS.c.namespace == namespace)
    rows, total, token = list_page(
        session, stmt, options, COLUMNS, EXPERIMENTS.c.experiment_id, secret
    )
    return [to_domain(r) for r in rows], total, token


def set_storage_state(session: Session, experiment_id: str, state: str) -> None:
    session.execute(
        update(ExperimentRow)
        .where(ExperimentRow.experiment_id == experiment_id)
        .values(storage_state=state)
    )


def claim_for_run(session: Session, experiment_id: str, created_at: datetime) -> bool:
    """Lock an available experiment for a new run and move ``last_run_created_at``
    forward (never back); False if the experiment is archived or gone.

    One UPDATE takes the row lock as late as possible in a run's transaction, so
    concurrent creators in one experiment queue only for the statements after it.
    """
    result = session.connection().execute(
        _CLAIM, {"b_experiment_id": experiment_id, "b_created_at": created_at}
    )
    return bool(result.rowcount == 1)


def delete(session: Session, experiment_id: str) -> None:
    session.execute(sql_delete(ExperimentRow).where(ExperimentRow.experiment_id == experiment_id))
