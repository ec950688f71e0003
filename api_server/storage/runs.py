"""Run, run-history and task rows."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, Table, bindparam, exists, insert, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from api_server.listing import Field, FieldKind, ListOptions
from domain.resources import Run, RuntimeStatus, Status, Task
from domain.schema import in_chunks
from domain.states import ACTIVE_STATES, RuntimeState, StorageState, enum_names
from domain.timestamps import from_micros

from . import run_counts
from .dialects import json_rows
from .driver_sql import DriverStatement, placeholders
from .listing_support import list_page
from .rows import RunRow, RunStateRow, TaskRow, TaskStateRow
from .types import json_text, micros

RUNS: Table = RunRow.__table__  # type: ignore[assignment]
HISTORY: Table = RunStateRow.__table__  # type: ignore[assignment]
TASKS: Table = TaskRow.__table__  # type: ignore[assignment]
TASK_HISTORY: Table = TaskStateRow.__table__  # type: ignore[assignment]
# A run's columns read with Core: attribute access by column name, like the ORM row.
RunRecord = Row[Any]

FIELDS = {
    "run_id": Field(FieldKind.STRING, sortable=True),
    "id": Field(FieldKind.STRING, sortable=True),
    "display_name": Field(FieldKind.STRING, sortable=True),
    "name": Field(FieldKind.STRING, sortable=True),
    "description": Field(FieldKind.STRING),
    "created_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "scheduled_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "finished_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "storage_state": Field(FieldKind.ENUM, enum_names=enum_names(StorageState)),
    "state": Field(FieldKind.ENUM, sortable=True, enum_names=enum_names(RuntimeState)),
    "namespace": Field(FieldKind.STRING),
    "experiment_id": Field(FieldKind.STRING),
    "recurring_run_id": Field(FieldKind.STRING),
    "pipeline_id": Field(FieldKind.STRING),
    "pipeline_version_id": Field(FieldKind.STRING),
}
COLUMNS: dict[str, Any] = {
    "run_id": RUNS.c.run_id,
    "id": RUNS.c.run_id,
    "display_name": RUNS.c.display_name,
    "name": RUNS.c.display_name,
    "description": RUNS.c.description,
    "created_at": RUNS.c.created_at,
    "scheduled_at": RUNS.c.scheduled_at,
    "finished_at": RUNS.c.finished_at,
    "storage_state": RUNS.c.storage_state,
    "state": RUNS.c.state,
    "namespace": RUNS.c.namespace,
    "experiment_id": RUNS.c.experiment_id,
    "recurring_run_id": RUNS.c.recurring_run_id,
    "pipeline_id": RUNS.c.pipeline_id,
    "pipeline_version_id": RUNS.c.pipeline_version_id,
}

_ACTIVE_STATES = sorted(state.value for state in ACTIVE_STATES)


def to_domain(row: RunRecord, **extra: Any) -> Run:
    return Run(
        run_id=row.run_id,
        experiment_id=row.experiment_id,
        namespace=row.namespace,
        display_name=row.display_name,
        description=row.description,
        pipeline_id=row.pipeline_id,
        pipeline_version_id=row.pipeline_version_id,
        spec_digest=row.spec_digest,
        runtime_config=row.runtime_config,
        service_account=row.service_account,
        storage_state=row.storage_state,
        state=row.state,
        generation=row.generation,
        error=Status.from_json(row.error),
        recurring_run_id=row.recurring_run_id,
        plugins_input=row.plugins_input,
        created_at=row.created_at,
        scheduled_at=row.scheduled_at,
        finished_at=row.finished_at,
        **extra,
    )


def _run_values(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "experiment_id": run.experiment_id,
        "namespace": run.namespace,
        "display_name": run.display_name,
        "description": run.description,
        "pipeline_id": run.pipeline_id,
        "pipeline_version_id": run.pipeline_version_id,
        "spec_digest": run.spec_digest,
        "runtime_config": run.runtime_config,
        "service_account": run.service_account,
        "storage_state": run.storage_state,
        "state": run.state,
        "state_updated_at": run.created_at,
        "generation": run.generation,
        "error": None,
        "recurring_run_id": run.recurring_run_id,
        "plugins_input": run.plugins_input,
        "created_at": run.created_at,
        "scheduled_at": run.scheduled_at,
        "finished_at": None,
    }


def insert_run(session: Session, run: Run) -> None:
    """Insert a run and its first history entry: two Core INSERTs on the session's
    connection (no ORM bulk-persistence machinery on the hottest write)."""
    session.connection().execute(RUNS.insert(), [_run_values(run)])
    add_history(session, run.run_id, run.state, run.created_at)
    run_counts.add(session, run.experiment_id, run.storage_state, run.state, 1)


def insert_runs(session: Session, runs: list[Run]) -> None:
    """Insert many runs with their history rows (executemany) and one counter change per
    experiment and state: a scheduler's batch."""
    if not runs:
        return
    connection = session.connection()
    connection.execute(RUNS.insert(), [_run_values(run) for run in runs])
    connection.execute(
        HISTORY.insert(),
        [
            {"run_id": r.run_id, "state": r.state, "update_time": r.created_at, "error": None}
            for r in runs
        ],
    )
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for run in runs:
        counts[(run.experiment_id, run.storage_state, run.state)] += 1
    for (experiment_id, storage_state, state), delta in sorted(counts.items()):
        run_counts.add(session, experiment_id, storage_state, state, delta)


_EXISTING = select(RUNS.c.run_id).where(RUNS.c.run_id.in_(bindparam("b_ids", expanding=True)))
_ACTIVE_BY_RECURRING = select(RUNS.c.recurring_run_id, RUNS.c.scheduled_at).where(
    RUNS.c.recurring_run_id.in_(bindparam("b_ids", expanding=True)),
    RUNS.c.state.in_(_ACTIVE_STATES),
)


def existing_ids(session: Session, run_ids: list[str]) -> set[str]:
    """Which of ``run_ids`` exist (primary-key lookups)."""
    found: set[str] = set()
    connection = session.connection()
    for chunk in in_chunks(run_ids):
        found.update(connection.execute(_EXISTING, {"b_ids": chunk}).scalars())
    return found


def active_by_recurring_run(
    session: Session, recurring_run_ids: list[str]
) -> dict[str, list[datetime | None]]:
    """The slot times of the unfinished runs of each recurring run (index on
    recurring_run_id)."""
    slots: dict[str, list[datetime | None]] = defaultdict(list)
    connection = session.connection()
    for chunk in in_chunks(recurring_run_ids):
        for recurring_run_id, scheduled_at in connection.execute(
            _ACTIVE_BY_RECURRING, {"b_ids": chunk}
        ):
            slots[recurring_run_id].append(scheduled_at)
    return dict(slots)


def add_history(
    session: Session,
    run_id: str,
    state: str,
    when: datetime,
    error: dict[str, Any] | None = None,
) -> None:
    session.connection().execute(
        HISTORY.insert(),
        [{"run_id": run_id, "state": state, "update_time": when, "error": error}],
    )


_GET_RUN = select(RUNS).where(RUNS.c.run_id == bindparam("run_id"))
_GET_RUN_FOR_UPDATE = _GET_RUN.with_for_update()


def get_row(session: Session, run_id: str, *, for_update: bool = False) -> RunRecord | None:
    """The run's columns as a read-only row (Core: no identity map, nothing refreshed).
    Statements are built once; only the bound id changes per call."""
    stmt = _GET_RUN_FOR_UPDATE if for_update else _GET_RUN
    return session.connection().execute(stmt, {"run_id": run_id}).one_or_none()


_LOCK_GENERATION = DriverStatement(
    select(RUNS.c.generation).where(RUNS.c.run_id == bindparam("run_id")).with_for_update(),
    ("run_id",),
)


def lock_generation(connection: Connection, run_id: str) -> int | None:
    """Lock the run's row (as ``get_row(for_update=True)``) and return its generation; None
    if there is no such run. What task-only status events need of the run."""
    return _LOCK_GENERATION.execute(connection, (run_id,)).scalar_one_or_none()


# A run with its state history (aggregated as JSON) and whether it has tasks, in one
# statement: one round trip instead of three for a run without tasks, the common GetRun.
_HISTORY_JSON = (
    select(json_rows(*(HISTORY.c[name] for name in ("id", "state", "update_time", "error"))))
    .where(HISTORY.c.run_id == RUNS.c.run_id)
    .scalar_subquery()
)
_GET_RUN_WITH_HISTORY = select(
    RUNS,
    _HISTORY_JSON.label("history_json"),
    exists().where(TASKS.c.run_id == RUNS.c.run_id).label("has_tasks"),
).where(RUNS.c.run_id == bindparam("run_id"))


def get_with_stored_tasks(
    connection: Connection, run_id: str
) -> tuple[Run, list[StoredTask]] | None:
    """The run with its state history (its ``tasks`` empty), and its tasks as stored (see
    :class:`StoredTask`; :func:`tasks_of` decodes them): one statement for a run without
    tasks, two with them, whatever the task count."""
    row = connection.execute(_GET_RUN_WITH_HISTORY, {"run_id": run_id}).one_or_none()
    if row is None:
        return None
    tasks = list_stored_tasks(connection, run_id) if row.has_tasks else []
    return to_domain(row, state_history=history_of(row.history_json), tasks=[]), tasks


def history_of(rows_json: str | None) -> list[RuntimeStatus]:
    """A state history aggregated by ``json_rows(id, state, update_time, error)``, in the
    order it was written; decoded as the columns themselves are."""
    if not rows_json:
        return []
    return [
        RuntimeStatus(
            state=state,
            update_time=from_micros(int(update_time)),
            error=Status.from_json(None if error is None else json.loads(error)),
        )
        for _, state, update_time, error in sorted(json.loads(rows_json), key=itemgetter(0))
    ]


_TASK_HISTORY_JSON = (
    select(json_rows(*(TASK_HISTORY.c[name] for name in ("id", "state", "update_time", "error"))))
    .where(TASK_HISTORY.c.task_id == TASKS.c.task_id)
    .scalar_subquery()
)


class StoredTask(NamedTuple):
    """A task row as the database holds it, undecoded: times in microseconds since the
    epoch, JSON columns as their text (compact, keys sorted: see ``types.json_text``), and
    its state history as ``json_rows(id, state, update_time, error)`` text. Decoding a
    row into a :class:`Task` costs more than reading it (50 us against 4 us on the
    benchmark VM): a big run's task details are written straight from these."""

    task_id: str
    run_id: str
    parent_task_id: str | None
    display_name: str
    state: str
    create_time: int
    start_time: int | None
    end_time: int | None
    error: str | None
    execution_id: str | None
    pod_name: str | None
    executor_detail: str | None
    inputs: str | None
    outputs: str | None
    history_json: str | None


_GET_STORED_TASKS = DriverStatement(
    select(*(TASKS.c[name] for name in StoredTask._fields[:-1]), _TASK_HISTORY_JSON)
    .where(TASKS.c.run_id == bindparam("run_id"))
    .order_by(TASKS.c.create_time, TASKS.c.task_id),
    ("run_id",),
)


def list_stored_tasks(connection: Connection, run_id: str) -> list[StoredTask]:
    """A run's tasks as stored, in creation order, with their histories, in one statement."""
    return [StoredTask._make(row) for row in _GET_STORED_TASKS.execute(connection, (run_id,))]


def tasks_of(
    rows: Sequence[StoredTask], run_rows: Sequence[StoredTask] | None = None
) -> list[Task]:
    """Stored task rows decoded, each with its children among ``run_rows`` (default: among
    ``rows``; give all of the run's rows when ``rows`` are only some of them)."""
    children = child_task_ids(rows if run_rows is None else run_rows)
    return [_task_of(row, children.get(row.task_id, [])) for row in rows]


def child_task_ids(rows: Iterable[StoredTask]) -> dict[str, list[str]]:
    """Each task's children among ``rows``, by task id, in the rows' order."""
    children: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.parent_task_id:
            children[row.parent_task_id].append(row.task_id)
    return children


def _task_of(row: StoredTask, child_task_ids: list[str]) -> Task:
    """A stored task row decoded, as its columns' types decode them."""
    return Task(
        task_id=row.task_id,
        run_id=row.run_id,
        display_name=row.display_name,
        state=row.state,
        create_time=from_micros(int(row.create_time)),
        parent_task_id=row.parent_task_id,
        start_time=None if row.start_time is None else from_micros(int(row.start_time)),
        end_time=None if row.end_time is None else from_micros(int(row.end_time)),
        error=Status.from_json(None if row.error is None else json.loads(row.error)),
        execution_id=row.execution_id,
        pod_name=row.pod_name,
        executor_detail=None if row.executor_detail is None else json.loads(row.executor_detail),
        inputs=None if row.inputs is None else json.loads(row.inputs),
        outputs=None if row.outputs is None else json.loads(row.outputs),
        state_history=history_of(row.history_json),
        child_task_ids=child_task_ids,
    )


def list_runs(
    session: Session, options: ListOptions, *, scope: dict[str, Any], secret: bytes
) -> tuple[list[Run], int, str]:
    """A page of runs. ``scope`` narrows by experiment_id and/or namespace (indexed)."""
    stmt = select(RUNS)
    if scope.get("experiment_id") is not None:
        stmt = stmt.where(RUNS.c.experiment_id == scope["experiment_id"])
    if scope.get("namespace") is not None:
        stmt = stmt.where(RUNS.c.namespace == scope["namespace"])
    counted = run_counts.can_count(options, (k for k, v in scope.items() if v is not None))
    rows, total, token = list_page(
        session,
        stmt,
        options,
        COLUMNS,
        RUNS.c.run_id,
        secret,
        total=(lambda: run_counts.total(session, options, scope)) if counted else None,
    )
    return [to_domain(r) for r in rows], total, token


def list_unfinished(session: Session, run_id: str | None = None) -> list[Run]:
    """Runs a backend must pick up again after a restart (or just ``run_id``, if it is
    still unfinished), in one query."""
    query = select(RUNS).where(RUNS.c.state.in_(_ACTIVE_STATES))
    if run_id is not None:
        query = query.where(RUNS.c.run_id == run_id)
    rows = session.connection().execute(query.order_by(RUNS.c.created_at))
    return [to_domain(row) for row in rows]


def active_ids_for_experiment(session: Session, experiment_id: str) -> list[str]:
    return list(
        session.execute(
            select(RunRow.run_id).where(
                RunRow.experiment_id == experiment_id, RunRow.state.in_(_ACTIVE_STATES)
            )
        ).scalars()
    )


def update_run(session: Session, row: RunRecord, values: dict[str, Any]) -> None:
    """Update a run read (and locked) as ``row``, keeping its experiment's counters exact."""
    set_fields(session, row.run_id, values)
    run_counts.move(
        session,
        row.experiment_id,
        (row.storage_state, row.state),
        (values.get("storage_state", row.storage_state), values.get("state", row.state)),
    )


def set_fields(session: Session, run_id: str, values: dict[str, Any]) -> None:
    session.connection().execute(RUNS.update().where(RUNS.c.run_id == run_id).values(**values))


def set_storage_state_for_experiment(session: Session, experiment_id: str, state: str) -> None:
    session.execute(
        update(RunRow).where(RunRow.experiment_id == experiment_id).values(storage_state=state)
    )
    run_counts.recount(session, experiment_id)


def delete(session: Session, row: RunRecord) -> None:
    """Delete a run read (and locked) as ``row``, with its history and tasks."""
    _delete_children(session, select(RunRow.run_id).where(RunRow.run_id == row.run_id))
    session.execute(sql_delete(RunRow).where(RunRow.run_id == row.run_id))
    run_counts.add(session, row.experiment_id, row.storage_state, row.state, -1)


def delete_for_experiment(session: Session, experiment_id: str) -> None:
    _delete_children(session, select(RunRow.run_id).where(RunRow.experiment_id == experiment_id))
    session.execute(sql_delete(RunRow).where(RunRow.experiment_id == experiment_id))
    run_counts.forget(session, experiment_id)


def _delete_children(session: Session, run_ids: Any) -> None:
    # Explicit deletes rather than ON DELETE CASCADE: SQLite needs foreign_keys=ON for that,
    # and an explicit order keeps the statement count visible.
    task_ids = select(TaskRow.task_id).where(TaskRow.run_id.in_(run_ids))
    session.execute(sql_delete(TaskStateRow).where(TaskStateRow.task_id.in_(task_ids)))
    session.execute(sql_delete(TaskRow).where(TaskRow.run_id.in_(run_ids)))
    session.execute(sql_delete(RunStateRow).where(RunStateRow.run_id.in_(run_ids)))


def get_task_rows(connection: Connection, task_ids: set[str]) -> dict[str, Row[Any]]:
    """The task rows with these ids, keyed by id (one query per IN list)."""
    return {
        row.task_id: row
        for chunk in in_chunks(sorted(task_ids))
        for row in connection.execute(select(TASKS).where(TASKS.c.task_id.in_(chunk)))
    }


class TaskState(NamedTuple):
    """What applying a status event needs of most task rows."""

    run_id: str
    state: str
    generation: int


def get_task_states(connection: Connection, task_ids: set[str]) -> dict[str, TaskState]:
    """The run, state and generation of the tasks with these ids, keyed by id: what applying
    status events needs of most rows, without decoding their JSON columns
    (:func:`get_task_rows` reads a whole row when its details matter). Sent as the driver's
    SQL (see ``driver_sql``): building a Core IN list per call cost more than the query."""
    found: dict[str, TaskState] = {}
    for chunk in in_chunks(sorted(task_ids)):
        sql = _TASK_STATES_SQL.format(placeholders(connection.dialect, len(chunk)))
        for task_id, run_id, state, generation in connection.exec_driver_sql(sql, tuple(chunk)):
            found[task_id] = TaskState(run_id, state, generation)
    return found


_TASK_STATES_SQL = "SELECT task_id, run_id, state, generation FROM run_tasks WHERE task_id IN ({})"


# Status writes: a fan-out reports thousands of tasks, a few dozen per transaction. Their
# rows go through the driver with values converted here, once (see driver_sql).
#: What a status event may set on a task beyond its state: the columns it updates.
TASK_DETAIL_COLUMNS = (
    "start_time",
    "end_time",
    "error",
    "execution_id",
    "pod_name",
    "executor_detail",
    "inputs",
    "outputs",
)
_TASK_COLUMNS = (
    "task_id",
    "run_id",
    "parent_task_id",
    "display_name",
    "state",
    "generation",
    "create_time",
    *TASK_DETAIL_COLUMNS,
)
_INSERT_TASK = DriverStatement(
    insert(TASKS).values({name: bindparam(name) for name in _TASK_COLUMNS}), _TASK_COLUMNS
)
_HISTORY_COLUMNS = ("task_id", "state", "error", "update_time")
_INSERT_TASK_HISTORY = DriverStatement(
    insert(TASK_HISTORY).values({name: bindparam(name) for name in _HISTORY_COLUMNS}),
    _HISTORY_COLUMNS,
)
# How each task column is stored: the JSONText and EpochMicros columns are converted.
_STORED: dict[str, Any] = {
    **{name: json_text for name in ("error", "executor_detail", "inputs", "outputs")},
    **{name: micros for name in ("create_time", "start_time", "end_time")},
}


def insert_tasks(connection: Connection, values: list[dict[str, Any]]) -> None:
    """Insert task rows (each a dict of every task column)."""
    if values:
        _INSERT_TASK.execute_many(
            connection,
            [
                (
                    v["task_id"],
                    v["run_id"],
                    v["parent_task_id"],
                    v["display_name"],
                    v["state"],
                    v["generation"],
                    micros(v["create_time"]),
                    micros(v["start_time"]),
                    micros(v["end_time"]),
                    json_text(v["error"]),
                    v["execution_id"],
                    v["pod_name"],
                    json_text(v["executor_detail"]),
                    json_text(v["inputs"]),
                    json_text(v["outputs"]),
                )
                for v in values
            ],
        )


def update_tasks(connection: Connection, updates: dict[str, dict[str, Any]]) -> None:
    """Apply per-task column updates: one executemany per set of columns changed."""
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for task_id, values in updates.items():
        columns = tuple(sorted(values, key=_TASK_COLUMNS.index))
        groups[columns].append(
            (
                *(
                    _STORED[name](values[name]) if name in _STORED else values[name]
                    for name in columns
                ),
                task_id,
            )
        )
    for columns, rows in groups.items():
        _task_update(columns).execute_many(connection, rows)


@functools.cache
def _task_update(columns: tuple[str, ...]) -> DriverStatement:
    """A prebuilt UPDATE of these task columns (compiled once per dialect)."""
    names = tuple(f"b_{name}" for name in columns)
    statement = (
        update(TASKS)
        .where(TASKS.c.task_id == bindparam("b_task_id"))
        .values({name: bindparam(bind) for name, bind in zip(columns, names, strict=True)})
    )
    return DriverStatement(statement, (*names, "b_task_id"))


def add_task_histories(
    connection: Connection, rows: list[tuple[str, str, dict[str, Any] | None, datetime]]
) -> None:
    """Insert task history rows, each ``(task_id, state, error, update_time)``."""
    if rows:
        _INSERT_TASK_HISTORY.execute_many(
            connection,
            [
                (task_id, state, json_text(error), micros(update_time))
                for task_id, state, error, update_time in rows
            ],
        )


def task_states(session: Session, run_id: str) -> list[Row[Any]]:
    """Every task of a run with its state, outputs and executor detail."""
    return list(
        session.connection().execute(
            select(TASKS.c.task_id, TASKS.c.state, TASKS.c.outputs, TASKS.c.executor_detail).where(
                TASKS.c.run_id == run_id
            )
        )
    )
