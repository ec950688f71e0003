"""Runs: creation, reads, lifecycle (archive, terminate, retry, delete) and the one status
path every backend reports through."""

from __future__ import annotations

import builtins
import copy
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api_server.backends import (
    RestoredTask,
    RunBackend,
    RunStatusEvent,
    SubmittedRun,
    TaskStatusEvent,
)
from api_server.storage import experiments as experiment_store
from api_server.storage import recurring_runs as recurring_store
from api_server.storage import runs as store
from api_server.storage.runs import RunRecord
from domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from domain.resources import Experiment, Page, Run, Task
from domain.states import RuntimeState, StorageState
from scheduled_controller import ScheduledRun

from . import run_states, validation
from .context import ListQuery, ServiceContext
from .experiments import ExperimentService
from .group_commit import GroupCommit
from .pipelines import PipelineService
from .specs import (
    check_runtime_config,
    digest_package,
    document_of,
    package_from_body,
    store_package,
    wire_spec,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineSource:
    """Where a run's spec comes from: a version reference xor an inline spec."""

    pipeline_id: str | None = None
    pipeline_version_id: str | None = None
    pipeline_spec: Any = None


@dataclass(frozen=True)
class RunInput:
    display_name: str | None
    source: PipelineSource
    experiment_id: str | None = None
    description: str | None = None
    runtime_config: Any = None
    service_account: str | None = None
    recurring_run_id: str | None = None
    scheduled_at: datetime | None = None
    plugins_input: Any = None
    # A caller-chosen id (the scheduler derives one per slot); a new uuid4 if None.
    run_id: str | None = None


@dataclass(frozen=True)
class ResolvedSource:
    pipeline_id: str | None
    pipeline_version_id: str | None
    spec_digest: str
    document: dict[str, Any]


def check_one_source(source: PipelineSource) -> None:
    """A run names its spec once: inline, or by a version reference."""
    if source.pipeline_spec and (source.pipeline_id or source.pipeline_version_id):
        raise InvalidArgument(
            "pipeline_spec: give either pipeline_spec or pipeline_version_reference, not both"
        )


def resolve_source(
    ctx: ServiceContext, pipelines: PipelineService, session: Session, source: PipelineSource
) -> ResolvedSource:
    """Turn a version reference or an inline spec into a stored spec digest."""
    check_one_source(source)
    if source.pipeline_spec:
        package = package_from_body("pipeline_spec", source.pipeline_spec)
        digest = store_package(ctx, session, package)
        document = {"pipeline_spec": package.pipeline_spec, "platform_spec": package.platform_spec}
        return ResolvedSource(None, None, digest, document)
    if not (source.pipeline_id or source.pipeline_version_id):
        raise InvalidArgument(
            "pipeline_version_reference: a run needs pipeline_version_reference or pipeline_spec"
        )
    version = pipelines.resolve_version(session, source.pipeline_id, source.pipeline_version_id)
    document = ctx.specs.load(session, version.spec_digest)
    return ResolvedSource(
        version.pipeline_id, version.pipeline_version_id, version.spec_digest, document
    )


@dataclass(frozen=True, order=True)
class _SpecBytes:
    """An inline spec to store with a new run: its digest and canonical JSON."""

    digest: str
    canonical: bytes


@dataclass(frozen=True)
class _NewRun:
    """A validated run waiting for the group commit."""

    run: Run
    spec: _SpecBytes | None
    is_id_chosen: bool  # the caller chose the id, so it may exist already


class _TemplateInput(Protocol):
    @property
    def experiment_id(self) -> str | None: ...
    @property
    def source(self) -> PipelineSource: ...
    @property
    def runtime_config(self) -> Any: ...


def resolve_template(
    ctx: ServiceContext,
    experiments: ExperimentService,
    pipelines: PipelineService,
    session: Session,
    data: _TemplateInput,
    *,
    lock_experiment: bool = True,
) -> tuple[Experiment, ResolvedSource, dict[str, Any] | None]:
    """What a run or recurring run is made from: its experiment (the default one if none is
    named), its stored spec, and its runtime config checked against the spec's inputs."""
    experiment = experiments.resolve_for_run(session, data.experiment_id, lock=lock_experiment)
    source = resolve_source(ctx, pipelines, session, data.source)
    runtime_config = check_runtime_config(source.document["pipeline_spec"], data.runtime_config)
    return experiment, source, runtime_config


class RunService:
    def __init__(
        self,
        ctx: ServiceContext,
        backend: RunBackend,
        experiments: ExperimentService,
        pipelines: PipelineService,
    ) -> None:
        self.ctx = ctx
        self.backend = backend
        self.experiments = experiments
        self.pipelines = pipelines
        # Concurrent creations share one transaction and one commit (see group_commit).
        self._new_runs: GroupCommit[_NewRun, None] = GroupCommit(
            self._insert_new_runs, is_item_error=lambda exc: not isinstance(exc, Unavailable)
        )

    # --- create and read -------------------------------------------------------------

    def create(self, data: RunInput) -> Run:
        """Validate, store (state PENDING, one history row) and hand the run to the backend.

        Everything a run is made from is read and checked first, outside any transaction;
        the run is then written by the group commit (``_insert_new_runs``), in one
        transaction with the runs other callers are creating at the same moment.
        """
        display_name = validation.required_name("display_name", data.display_name)
        description = validation.description("description", data.description)
        service_account = validation.bounded("service_account", data.service_account, 255)
        plugins_input = validation.plugins_input(data.plugins_input)
        run_id = validation.bounded("run_id", data.run_id, 36) if data.run_id else None
        now = self.ctx.clock()
        if data.experiment_id:
            experiment_id = data.experiment_id
            namespace = self.experiments.namespace_for_new_run(experiment_id)
        else:
            default = self.experiments.ensure_default()
            experiment_id, namespace = default.experiment_id, default.namespace
        source, spec_to_store = self._new_run_source(data.source)
        runtime_config = check_runtime_config(source.document["pipeline_spec"], data.runtime_config)
        run = Run(
            run_id=run_id or self.ctx.new_id(),
            experiment_id=experiment_id,
            namespace=namespace,
            display_name=display_name,
            description=description,
            pipeline_id=source.pipeline_id,
            pipeline_version_id=source.pipeline_version_id,
            spec_digest=source.spec_digest,
            runtime_config=runtime_config,
            service_account=service_account,
            storage_state=StorageState.AVAILABLE.value,
            state=RuntimeState.PENDING.value,
            generation=0,
            error=None,
            recurring_run_id=data.recurring_run_id,
            plugins_input=plugins_input,
            created_at=now,
            scheduled_at=data.scheduled_at or now,
            finished_at=None,
        )
        self._new_runs.submit(_NewRun(run, spec_to_store, is_id_chosen=run_id is not None))
        self.ctx.specs.remember(source.spec_digest, source.document)
        # DEBUG: at hundreds of runs a second one line each would cost more than the insert;
        # the access log already records every request.
        logger.debug(
            "run created", extra={"run_id": run.run_id, "experiment_id": run.experiment_id}
        )
        self.backend.submit(self._submitted(run, source.document))
        return replace(
            run,
            pipeline_spec=None if source.pipeline_version_id else wire_spec(source.document),
            state_history=[],
        )

    def _new_run_source(self, source: PipelineSource) -> tuple[ResolvedSource, _SpecBytes | None]:
        """A new run's spec: a version's (read now), or an inline spec with the digest and
        bytes to store it under (stored in the run's transaction)."""
        check_one_source(source)
        if source.pipeline_spec:
            package = package_from_body("pipeline_spec", source.pipeline_spec)
            digest, canonical = digest_package(package)
            resolved = ResolvedSource(None, None, digest, document_of(package))
            return resolved, _SpecBytes(digest, canonical)
        if source.pipeline_version_id:
            pipeline_id, digest = self.pipelines.version_for_new_run(
                source.pipeline_id, source.pipeline_version_id
            )
            document = self.ctx.specs.cached(digest)
            if document is None:
                with self.ctx.db.read() as session:
                    document = self.ctx.specs.load(session, digest)
            resolved = ResolvedSource(pipeline_id, source.pipeline_version_id, digest, document)
            return resolved, None
        with self.ctx.db.read() as session:
            return resolve_source(self.ctx, self.pipelines, session, source), None

    def _insert_new_runs(self, batch: Sequence[_NewRun]) -> builtins.list[Exception | None]:
        """The group commit's writer: insert a batch of new runs in one transaction.

        Runs whose version was deleted meanwhile get NotFound, runs whose chosen id exists
        get AlreadyExists; the experiments of the others are claimed (in id order, as
        ``create_scheduled_runs`` does), and runs whose experiment is archived or gone get
        that error. The rest are written.
        """
        outcomes: builtins.list[Exception | None] = [None] * len(batch)
        with self.ctx.db.write() as session:
            versions = {
                item.run.pipeline_version_id for item in batch if item.run.pipeline_version_id
            }
            gone = self.pipelines.missing_versions(session, versions) if versions else set()
            chosen = [item.run.run_id for item in batch if item.is_id_chosen]
            taken = store.existing_ids(session, chosen) if chosen else set()
            newest: dict[str, datetime] = {}
            for i, item in enumerate(batch):
                run = item.run
                if run.pipeline_version_id in gone:
                    outcomes[i] = NotFound(
                        f"pipeline version {run.pipeline_version_id!r} does not exist"
                    )
                    continue
                if run.run_id in taken:
                    outcomes[i] = AlreadyExists(f"run_id: run {run.run_id!r} already exists")
                    continue
                taken.add(run.run_id)  # a second run with this id in the batch is refused
                newest[run.experiment_id] = max(
                    run.created_at, newest.get(run.experiment_id, run.created_at)
                )
            for experiment_id in sorted(newest):
                # The lock on the experiment is taken here, late, and held to the commit.
                created_at = newest[experiment_id]
                if not experiment_store.claim_for_run(session, experiment_id, created_at):
                    refusal = self._claim_refusal(session, experiment_id)
                    for i, item in enumerate(batch):
                        if item.run.experiment_id == experiment_id and outcomes[i] is None:
                            outcomes[i] = copy.copy(refusal)  # raised in each caller's thread
            # Inline specs, of the runs being written only (after the claims, in the lock
            # order recurring-run creation uses too: experiment, then spec).
            specs = {item.spec for i, item in enumerate(batch) if outcomes[i] is None}
            for spec in sorted(spec for spec in specs if spec is not None):
                self.ctx.specs.save(session, digest=spec.digest, canonical=spec.canonical)
            store.insert_runs(
                session, [item.run for i, item in enumerate(batch) if outcomes[i] is None]
            )
        return outcomes

    def _claim_refusal(self, session: Session, experiment_id: str) -> Exception:
        """Why an experiment cannot take new runs: NotFound, or archived, as a read says."""
        try:
            self.experiments.resolve_for_run(session, experiment_id, lock=False)
        except (NotFound, FailedPrecondition) as exc:
            return exc
        return FailedPrecondition(
            f"experiment_id: experiment {experiment_id!r} was archived"
            " or deleted while the run was being created"
        )

    def create_scheduled_runs(self, runs: Sequence[ScheduledRun]) -> set[str]:
        """Create a scheduler's batch of runs in one transaction; returns the ids created.

        Each run's id is derived from its slot, so the insert is the idempotency point: ids
        that exist already (fired before a restart, or by another scheduler) are skipped.
        The experiments are claimed first, in id order: a second scheduler racing on the
        same slots waits for the first to commit and then finds its runs. A run whose
        experiment was archived meanwhile is not created. ``template`` of each run is the
        ``RecurringRun`` it comes from (already validated when it was created).
        """
        if not runs:
            return set()
        for attempt in range(3):
            try:
                created, documents = self._insert_scheduled(runs)
                break
            except AlreadyExists:
                # Lost a race that the claim order did not serialise (SQLite readers):
                # the next attempt sees the winner's rows and skips them.
                if attempt == 2:
                    raise
        for run in created:
            self.backend.submit(self._submitted(run, documents[run.spec_digest]))
        return {run.run_id for run in created}

    def _insert_scheduled(
        self, runs: Sequence[ScheduledRun]
    ) -> tuple[builtins.list[Run], dict[str, dict[str, Any]]]:
        with self.ctx.db.write() as session:
            newest = max(run.created_at for run in runs)
            experiment_ids = sorted({run.template.experiment_id for run in runs})
            available = {
                experiment_id
                for experiment_id in experiment_ids
                if experiment_store.claim_for_run(session, experiment_id, newest)
            }
            existing = store.existing_ids(session, [run.run_id for run in runs])
            # A schedule disabled since it was read fires nothing (checked under the write).
            enabled = recurring_store.enabled_ids(
                session, sorted({run.recurring_run_id for run in runs})
            )
            created = [
                self._scheduled_run(run)
                for run in runs
                if run.run_id not in existing
                and run.template.experiment_id in available
                and run.recurring_run_id in enabled
            ]
            store.insert_runs(session, created)
            documents = {
                digest: self.ctx.specs.load(session, digest)
                for digest in {run.spec_digest for run in created}
            }
        return created, documents

    @staticmethod
    def _scheduled_run(run: ScheduledRun) -> Run:
        template = run.template
        runtime_config = dict(template.runtime_config or {})
        if run.parameters:
            runtime_config["parameters"] = run.parameters
        return Run(
            run_id=run.run_id,
            experiment_id=template.experiment_id,
            namespace=template.namespace,
            display_name=run.display_name,
            description=template.description,
            pipeline_id=template.pipeline_id,
            pipeline_version_id=template.pipeline_version_id,
            spec_digest=template.spec_digest,
            runtime_config=runtime_config or None,
            service_account=template.service_account,
            storage_state=StorageState.AVAILABLE.value,
            state=RuntimeState.PENDING.value,
            generation=0,
            error=None,
            recurring_run_id=run.recurring_run_id,
            plugins_input=template.plugins_input,
            created_at=run.created_at,
            scheduled_at=run.scheduled_at,
            finished_at=None,
        )

    def get(self, run_id: str) -> Run:
        """A run with its spec (for inline runs), state history and tasks."""
        run, rows = self.get_stored(run_id)
        return replace(run, tasks=store.tasks_of(rows))

    def get_stored(self, run_id: str) -> tuple[Run, builtins.list[store.StoredTask]]:
        """:meth:`get`, with the tasks as stored instead of in the run (see
        ``store.StoredTask``): for a reader that writes them out as they are, or decodes
        only some of them (:meth:`tasks_of`)."""
        with self.ctx.db.read_connection() as connection:
            found = store.get_with_stored_tasks(connection, run_id)
            if found is None:
                raise NotFound(f"run {run_id!r} does not exist")
            run, tasks = found
            spec = None
            if run.pipeline_version_id is None:
                spec = wire_spec(self.ctx.specs.load(connection, run.spec_digest))
        return replace(run, pipeline_spec=spec), tasks

    @staticmethod
    def tasks_of(
        rows: Sequence[store.StoredTask], run_rows: Sequence[store.StoredTask]
    ) -> builtins.list[Task]:
        """Some of a run's stored task rows (from :meth:`get_stored`) decoded, their
        children found among ``run_rows`` (all of the run's): a page of a big run's tasks
        without the rest."""
        return store.tasks_of(rows, run_rows)

    def pipeline_document(self, run: Run) -> dict[str, Any]:
        """The spec a run was made from, in its wire shape. Stored by digest, it outlives
        the pipeline version the run came from."""
        with self.ctx.db.read() as session:
            return wire_spec(self.ctx.specs.load(session, run.spec_digest))

    def list(
        self, query: ListQuery, *, experiment_id: str | None, namespace: str | None
    ) -> Page[Run]:
        """A page of runs (projections: no spec, history or tasks)."""
        scope: dict[str, Any] = {
            "experiment_id": experiment_id or None,
            "namespace": validation.namespace(namespace) if namespace is not None else None,
        }
        if scope["experiment_id"]:
            # An experiment scope implies its namespace; an empty namespace param is "unset".
            scope["namespace"] = None
        options = self.ctx.list_options(query, store.FIELDS, scope)
        with self.ctx.db.read() as session:
            if scope["experiment_id"]:
                ExperimentService.require(session, scope["experiment_id"])
            items, total, token = store.list_runs(
                session, options, scope=scope, secret=self.ctx.page_token_secret
            )
        return Page(items, total, token)

    def list_unfinished(self, run_id: str | None = None) -> builtins.list[SubmittedRun]:
        """Runs a backend must resume after a restart (or only ``run_id``, if unfinished)."""
        with self.ctx.db.read() as session:
            return [
                self._submitted(run, self.ctx.specs.load(session, run.spec_digest))
                for run in store.list_unfinished(session, run_id)
            ]

    # --- lifecycle -------------------------------------------------------------------

    def archive(self, run_id: str) -> None:
        with self.ctx.db.write() as session:
            row = self._lock_run(session, run_id)
            store.update_run(session, row, {"storage_state": StorageState.ARCHIVED.value})
        logger.info("run archived", extra={"run_id": run_id})

    def unarchive(self, run_id: str) -> None:
        with self.ctx.db.write() as session:
            row = self._lock_run(session, run_id)
            experiment = ExperimentService.require(session, row.experiment_id)
            if experiment.storage_state == StorageState.ARCHIVED.value:
                raise FailedPrecondition(
                    f"run {run_id!r} is in archived experiment {experiment.experiment_id!r};"
                    " unarchive the experiment first"
                )
            store.update_run(session, row, {"storage_state": StorageState.AVAILABLE.value})
        logger.info("run unarchived", extra={"run_id": run_id})

    def delete(self, run_id: str) -> None:
        with self.ctx.db.write() as session:
            row = self._lock_run(session, run_id)
            was_active = not run_states.is_terminal(row.state)
            store.delete(session, row)
        if was_active:
            self.backend.terminate(run_id)
        self.backend.forget(run_id)
        logger.info("run deleted", extra={"run_id": run_id})

    def terminate(self, run_id: str) -> None:
        """Stop a run. Without an executing backend a pending run is cancelled at once;
        otherwise it moves to CANCELING and the backend reports the end."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            row = self._lock_run(session, run_id)
            if row.state in (RuntimeState.CANCELED.value, RuntimeState.CANCELING.value):
                return  # already stopping or stopped: terminating again changes nothing
            if not run_states.can_terminate(row.state):
                raise FailedPrecondition(f"run {run_id!r} has already finished ({row.state})")
            target = (
                RuntimeState.CANCELING
                if self.backend.reports_cancellation
                else RuntimeState.CANCELED
            )
            self._transition(session, row, target.value, now, None)
        self.backend.terminate(run_id)
        logger.info("run terminated", extra={"run_id": run_id, "state": target.value})

    def retry(self, run_id: str) -> None:
        """Re-run a FAILED or CANCELED run at a new generation; succeeded tasks are kept
        by the backend."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            row = self._lock_run(session, run_id)
            if not run_states.can_retry(row.state):
                raise FailedPrecondition(
                    f"run {run_id!r} is {row.state}; only FAILED or CANCELED runs can be retried"
                )
            generation = row.generation + 1
            self._transition(
                session,
                row,
                RuntimeState.PENDING.value,
                now,
                None,
                reset={"generation": generation, "error": None, "finished_at": None},
            )
            run = replace(store.to_domain(row), generation=generation)
            document = self.ctx.specs.load(session, row.spec_digest)
        self.backend.retry(self._submitted(run, document))
        logger.info("run retried", extra={"run_id": run_id, "generation": run.generation})

    # --- status from backends ----------------------------------------------------------

    def report_status(self, event: RunStatusEvent) -> bool:
        """Apply a backend's status event. Idempotent and ordered: repeated, stale or
        backwards events change nothing. Returns True if anything changed."""
        _check_state("state", "run", event.state)
        for task in event.tasks:
            _check_state("tasks", "task", task.state)
        if event.state:
            with self.ctx.db.write() as session:
                row = self._lock_run_if_exists(session, event.run_id)
                if row is None or event.generation < row.generation:
                    return False
                connection = session.connection()
                changed = self._apply_tasks(connection, event.run_id, event.generation, event.tasks)
                if (
                    event.state != row.state
                    and run_states.can_transition(row.state, event.state)
                    and event.update_time >= row.state_updated_at
                ):
                    self._transition(session, row, event.state, event.update_time, event.error)
                    changed = True
            return changed
        # Task-only events (a fan-out's rounds, most of them) leave the run and its counters
        # alone: they lock the run's row and read its generation, with no ORM session.
        with self.ctx.db.write_connection() as connection:
            generation = store.lock_generation(connection, event.run_id)
            if generation is None or event.generation < generation:
                return False
            return self._apply_tasks(connection, event.run_id, event.generation, event.tasks)

    # The service is the StatusSink backends receive at start-up.
    report = report_status

    def unfinished_runs(self, run_id: str | None = None) -> builtins.list[SubmittedRun]:
        return self.list_unfinished(run_id)

    def existing_runs(self, run_ids: builtins.list[str]) -> set[str]:
        with self.ctx.db.read() as session:
            return store.existing_ids(session, run_ids)

    def reported_tasks(self, run_id: str) -> dict[str, RestoredTask]:
        """What a backend reported for a run's tasks, to resume it."""
        with self.ctx.db.read() as session:
            return {
                row.task_id: RestoredTask(row.state, row.outputs, row.executor_detail)
                for row in store.task_states(session, run_id)
            }

    def _apply_tasks(
        self,
        connection: Connection,
        run_id: str,
        generation: int,
        events: builtins.list[TaskStatusEvent],
    ) -> bool:
        """Apply task events in bulk: one read of the rows they touch, then the writes.

        Within a generation a task moves only forwards (the transition table); an event in
        its current state updates its details; a newer generation may restart a task that
        ended (a retry runs it again)."""
        if not events:
            return False
        # Most events move a task to another state and need no more of its row than that.
        # An event in the task's current state compares details with the whole row (JSON
        # columns decoded): those rows are read together, up front; a task that reaches an
        # event's state within this batch reads its row on demand (_StoredRow).
        states = store.get_task_states(connection, {e.task_id for e in events})
        restated = {
            e.task_id for e in events if e.task_id in states and states[e.task_id].state == e.state
        }
        whole = store.get_task_rows(connection, restated) if restated else {}
        rows = {
            task_id: _TaskView(
                row.run_id,
                row.state,
                row.generation,
                whole[task_id]._mapping if task_id in whole else _StoredRow(connection, task_id),  # type: ignore[arg-type]
            )
            for task_id, row in states.items()
        }
        inserts: dict[str, dict[str, Any]] = {}  # by task id: not written yet
        updates: dict[str, dict[str, Any]] = {}
        history: builtins.list[tuple[str, str, dict[str, Any] | None, datetime]] = []
        changed = False
        for event in events:
            task_id, state = event.task_id, event.state
            details = {k: v for k in _TASK_DETAILS if (v := getattr(event, k)) is not None}
            row = rows.get(task_id)
            if row is None:
                values = {
                    "task_id": task_id,
                    "run_id": run_id,
                    "parent_task_id": event.parent_task_id,
                    "display_name": event.display_name,
                    "state": state,
                    "generation": generation,
                    "create_time": event.update_time,
                    **_NO_DETAILS,
                    **details,
                }
                inserts[task_id] = values
                rows[task_id] = _TaskView(run_id, state, generation, values)
                history.append((task_id, state, event.error, event.update_time))
                changed = True
                continue
            if row.run_id != run_id:
                raise InvalidArgument(f"tasks: task {task_id!r} belongs to another run")
            if generation > row.generation:
                values = {"state": state, "generation": generation, **details}
                if event.start_time is None:
                    values["start_time"] = None
                values.setdefault("end_time", None)
                values.setdefault("error", None)
            elif generation < row.generation:
                continue
            elif state == row.state:
                values = {k: v for k, v in details.items() if row.values.get(k) != v}
                if not values:
                    continue
            elif run_states.can_transition(row.state, state):
                values = {"state": state, **details}
            else:
                continue
            pending = inserts.get(task_id)
            if pending is not None:
                pending.update(values)  # inserted by this same event: not written yet
            else:
                updates.setdefault(task_id, {}).update(values)
            if state != row.state or generation > row.generation:
                history.append((task_id, state, event.error, event.update_time))
            rows[task_id] = _TaskView(run_id, state, generation, _Merged(row.values, values))
            changed = True
        store.insert_tasks(connection, builtins.list(inserts.values()))
        store.update_tasks(connection, updates)
        store.add_task_histories(connection, history)
        return changed

    @staticmethod
    def _transition(
        session: Session,
        row: RunRecord,
        state: str,
        when: datetime,
        error: dict[str, Any] | None,
        reset: dict[str, Any] | None = None,
    ) -> None:
        """Move a locked run to ``state`` with its history row (``reset``: other columns
        set in the same UPDATE, e.g. a retry's generation)."""
        values: dict[str, Any] = {"state": state, "state_updated_at": when}
        if error is not None:
            values["error"] = error
        if run_states.is_terminal(state):
            values["finished_at"] = when
        values.update(reset or {})
        store.update_run(session, row, values)
        store.add_history(session, row.run_id, state, when, error)

    # --- internals -------------------------------------------------------------------

    def _lock_run(self, session: Session, run_id: str) -> RunRecord:
        row = self._lock_run_if_exists(session, run_id)
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist")
        return row

    def _lock_run_if_exists(self, session: Session, run_id: str) -> RunRecord | None:
        """Lock a run to change it: its experiment's row first, then the run's.

        Every writer of a run takes the experiment lock first (creation and experiment
        archive/delete do too), which orders writers of the experiment's run counters and
        rules out lock cycles. SQLite has one writer at a time, so a plain read is enough.
        """
        if not self.ctx.db.is_sqlite:
            row = store.get_row(session, run_id)
            if row is None:
                return None
            experiment_store.get(session, row.experiment_id, for_update=True)
        return store.get_row(session, run_id, for_update=True)

    @staticmethod
    def _submitted(run: Run, document: dict[str, Any]) -> SubmittedRun:
        config = run.runtime_config or {}
        return SubmittedRun(
            run_id=run.run_id,
            generation=run.generation,
            experiment_id=run.experiment_id,
            namespace=run.namespace,
            display_name=run.display_name,
            pipeline_spec=document["pipeline_spec"],
            platform_spec=document.get("platform_spec"),
            parameters=dict(config.get("parameters") or {}),
            pipeline_root=config.get("pipeline_root"),
            service_account=run.service_account,
            created_at=run.created_at,
        )


_TASK_DETAILS = store.TASK_DETAIL_COLUMNS


# A new task's detail columns before its event's details are applied.
_NO_DETAILS: dict[str, Any] = dict.fromkeys(_TASK_DETAILS)


class _TaskView:
    """A task row as far as status application needs it (kept current within one event)."""

    __slots__ = ("generation", "run_id", "state", "values")

    def __init__(self, run_id: str, state: str, generation: int, values: Mapping[str, Any]):
        self.run_id, self.state, self.generation = run_id, state, generation
        self.values = values


class _StoredRow(Mapping[str, Any]):
    """A task row's columns, read from the database the first time one is asked for."""

    def __init__(self, connection: Connection, task_id: str) -> None:
        self._connection, self._task_id = connection, task_id
        self._row: Mapping[str, Any] | None = None

    def _load(self) -> Mapping[str, Any]:
        if self._row is None:
            row = store.get_task_rows(self._connection, {self._task_id}).get(self._task_id)
            self._row = dict(row._mapping) if row is not None else {}
        return self._row

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


class _Merged(Mapping[str, Any]):
    """A row's values with this event's changes on top, without copying the row."""

    def __init__(self, base: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
        self.base, self.changes = base, changes

    def __getitem__(self, key: str) -> Any:
        return self.changes[key] if key in self.changes else self.base[key]

    def __iter__(self) -> Iterator[str]:
        return iter({*self.base, *self.changes})

    def __len__(self) -> int:
        return len({*self.base, *self.changes})


def _check_state(field: str, kind: str, state: str | None) -> None:
    """Refuse a state name the API does not know, before anything is written."""
    if state is not None and not run_states.is_state(state):
        raise InvalidArgument(f"{field}: unknown {kind} state {state!r}")
