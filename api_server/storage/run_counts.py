"""Run counters: ``run_counts`` rows kept exact by every write to ``runs``.

``total_size`` of a run list whose filter only names the experiment, namespace, storage
state or state is the sum of a few counter rows; anything else is counted on the runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from api_server.listing import ListOptions
from api_server.listing.sql import apply_predicates

from .dialects import upsert_increment
from .rows import ExperimentRow, RunCountRow, RunRow

COUNTS: Table = RunCountRow.__table__  # type: ignore[assignment]
_EXPERIMENTS: Table = ExperimentRow.__table__  # type: ignore[assignment]
_RUNS: Table = RunRow.__table__  # type: ignore[assignment]

# The run-list keys a counter row can answer, and the columns that answer them.
COUNTABLE: dict[str, Any] = {
    "experiment_id": COUNTS.c.experiment_id,
    "storage_state": COUNTS.c.storage_state,
    "state": COUNTS.c.state,
    "namespace": _EXPERIMENTS.c.namespace,
}


def add(session: Session, experiment_id: str, storage_state: str, state: str, delta: int) -> None:
    """Add ``delta`` runs to one counter (creating it at ``delta``)."""
    upsert_increment(
        session,
        COUNTS,
        keys={"experiment_id": experiment_id, "storage_state": storage_state, "state": state},
        column="run_count",
        delta=delta,
    )


def move(session: Session, experiment_id: str, old: tuple[str, str], new: tuple[str, str]) -> None:
    """One run moved from (storage_state, state) ``old`` to ``new``."""
    if old == new:
        return
    # Always the same order, so two writers never wait on each other's rows crosswise.
    for (storage_state, state), delta in sorted([(old, -1), (new, 1)]):
        add(session, experiment_id, storage_state, state, delta)


def recount(session: Session, experiment_id: str) -> None:
    """Rebuild an experiment's counters from its runs (after bulk changes)."""
    runs = _RUNS
    forget(session, experiment_id)
    session.connection().execute(
        insert(COUNTS).from_select(
            ["experiment_id", "storage_state", "state", "run_count"],
            select(runs.c.experiment_id, runs.c.storage_state, runs.c.state, func.count())
            .where(runs.c.experiment_id == experiment_id)
            .group_by(runs.c.experiment_id, runs.c.storage_state, runs.c.state),
        )
    )


def forget(session: Session, experiment_id: str) -> None:
    session.connection().execute(delete(COUNTS).where(COUNTS.c.experiment_id == experiment_id))


def can_count(options: ListOptions, scope_keys: Iterable[str]) -> bool:
    """True when every filter key and scope key is one a counter row can answer."""
    keys = {p.key for p in options.predicates} | set(scope_keys)
    return keys <= COUNTABLE.keys()


def total(session: Session, options: ListOptions, scope: dict[str, Any]) -> int:
    """The number of runs matching ``scope`` and the filter, from the counters."""
    stmt = select(func.coalesce(func.sum(COUNTS.c.run_count), 0)).select_from(COUNTS)
    if scope.get("namespace") is not None or any(p.key == "namespace" for p in options.predicates):
        stmt = stmt.join(_EXPERIMENTS, _EXPERIMENTS.c.experiment_id == COUNTS.c.experiment_id)
    for key, value in scope.items():
        if value is not None:
            stmt = stmt.where(COUNTABLE[key] == value)
    stmt = apply_predicates(stmt, options.predicates, COUNTABLE)
    return int(session.connection().execute(stmt).scalar_one())
