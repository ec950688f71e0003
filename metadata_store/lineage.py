"""Lineage of runs: what the embedded engine records, in ML-Metadata's terms.

Per run: a ``system.Pipeline`` context (by pipeline name) and a ``system.PipelineRun``
context (by run id) that is its child. Per task: an execution of type
``system.ContainerExecution``/``system.DAGExecution``/``system.ImporterExecution`` associated
with the run context, its input and output artifacts attributed to it, and INPUT/OUTPUT events
whose path is the artifact's name.

Every call is idempotent and atomic, so the engine may repeat it after a retry or on resume:
the execution is found by its external id (``<run_id>/<task_id>``) and updated, output
artifacts by theirs (``<run_id>/<task_id>/<name>/<index>``), links and events are written
only once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.errors import FailedPrecondition, InvalidArgument
from domain.schema import in_chunks

from .proto import metadata_store_pb2 as pb
from .rows import ARTIFACT_TYPE, CONTEXT_TYPE, EXECUTION_TYPE
from .store import (
    ARTIFACTS,
    CONTEXTS,
    EVENTS,
    EXECUTIONS,
    PARENT_CONTEXTS,
    TYPES,
    MetadataStore,
    insert_ignoring_duplicates,
    now_ms,
)
from .values import python_property_row, python_value

logger = logging.getLogger(__name__)

PIPELINE_CONTEXT = "system.Pipeline"
RUN_CONTEXT = "system.PipelineRun"
EXECUTION_TYPES = ("system.ContainerExecution", "system.DAGExecution", "system.ImporterExecution")
STATES = dict(pb.Execution.State.items())


@dataclass(frozen=True)
class TaskLineage:
    """One task as the engine knows it.

    Artifacts are ``{name: [{"uri", "type": {"schemaTitle", "schemaVersion"}, "metadata",
    "artifact_id"?}]}``; an ``artifact_id`` names a stored artifact to link instead of a new
    one (a cache hit's reused outputs, an upstream task's output). An input artifact without
    one is found by its uri, or created.
    """

    task_id: str
    task_name: str
    display_name: str = ""
    execution_type: str = "system.ContainerExecution"
    state: str = "RUNNING"
    cache_fingerprint: str | None = None
    input_parameters: Mapping[str, Any] = field(default_factory=dict)
    input_artifacts: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    output_artifacts: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    cached_from_execution_id: int | None = None
    output_parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedTask:
    """Ids of what was recorded: the execution, and the artifacts per output (and input) name."""

    execution_id: int
    artifact_ids: dict[str, list[int]]
    input_artifact_ids: dict[str, list[int]] = field(default_factory=dict)


class LineageRecorder:
    """Writes runs and tasks into the metadata store; safe to call again with the same data."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        # Ids of run contexts and execution types, once a committed transaction has seen
        # them: nodes and types are never deleted, so they stay true (one look-up per run
        # and type per process instead of two per task).
        self._run_contexts: dict[str, int] = {}
        self._execution_types: dict[str, int] = {}

    # ------------------------------------------------------------------ runs
    def start_run(self, run_id: str, pipeline_name: str, run_display_name: str) -> None:
        """The pipeline and run contexts, the run a child of the pipeline."""
        if not run_id:
            raise InvalidArgument("run_id must not be empty")

        def work(session: Session) -> None:
            pipeline_id = self._context(session, PIPELINE_CONTEXT, pipeline_name or "pipeline", {})
            run_context_id = self._context(
                session,
                RUN_CONTEXT,
                run_id,
                {"display_name": run_display_name, "pipeline_name": pipeline_name},
            )
            insert_ignoring_duplicates(
                session,
                PARENT_CONTEXTS,
                [{"context_id": run_context_id, "parent_context_id": pipeline_id}],
            )

        self.store._write(work, retry=True)

    def _context(
        self, session: Session, type_name: str, name: str, custom: Mapping[str, Any]
    ) -> int:
        type_id = self.store._put_type(
            session, CONTEXT_TYPE, pb.ContextType(name=type_name), True, True
        )
        table = CONTEXTS.table
        found = session.execute(
            select(table.c.id).where(table.c.type_id == type_id, table.c.name == name)
        ).scalar()
        if found is not None:
            return int(found)
        context = pb.Context(type_id=type_id, name=name)
        for key, value in custom.items():
            context.custom_properties[key].CopyFrom(python_value(value))
        return self.store._put_nodes(session, CONTEXTS, [context])[0]

    def _run_context_id(self, session: Session, run_id: str) -> int:
        found = session.execute(
            select(CONTEXTS.table.c.id)
            .join(TYPES, TYPES.c.id == CONTEXTS.table.c.type_id)
            .where(
                TYPES.c.kind == CONTEXT_TYPE,
                TYPES.c.name == RUN_CONTEXT,
                CONTEXTS.table.c.name == run_id,
            )
        ).scalar()
        if found is None:
            raise FailedPrecondition(f"run {run_id!r} has no lineage yet; call start_run first")
        return int(found)

    # ------------------------------------------------------------------ tasks
    def record_task(self, run_id: str, task: TaskLineage) -> RecordedTask:
        """Upsert the task's execution, its artifacts, events and links to the run."""
        return self.record_tasks([(run_id, task)])[0]

    def record_tasks(self, tasks: Sequence[tuple[str, TaskLineage]]) -> list[RecordedTask]:
        """``record_task`` for many tasks (of any runs) in one transaction: all or nothing,
        results in order. A task may appear only once."""
        states = [self._checked_state(task) for _, task in tasks]
        external_ids = [f"{run_id}/{task.task_id}" for run_id, task in tasks]
        if len(set(external_ids)) != len(external_ids):
            raise InvalidArgument("record_tasks: a task is given twice")
        if not tasks:
            return []
        seen: dict[str, dict[str, int]] = {}
        recorded = self.store._write(
            lambda session: self._record_many(session, tasks, states, external_ids, seen),
            retry=True,
        )
        self._run_contexts.update(seen["runs"])
        self._execution_types.update(seen["types"])
        return recorded

    @staticmethod
    def _checked_state(task: TaskLineage) -> int:
        if not task.task_id:
            raise InvalidArgument("task_id must not be empty")
        if task.execution_type not in EXECUTION_TYPES:
            raise InvalidArgument(
                f"execution_type {task.execution_type!r} is not one of {list(EXECUTION_TYPES)}"
            )
        state = STATES.get(task.state)
        if state is None or state == pb.Execution.UNKNOWN:
            raise InvalidArgument(f"state {task.state!r} is not an execution state")
        return state

    def _record_many(
        self,
        session: Session,
        tasks: Sequence[tuple[str, TaskLineage]],
        states: Sequence[int],
        external_ids: Sequence[str],
        seen: dict[str, dict[str, int]],
    ) -> list[RecordedTask]:
        """The executions in one statement (plus their properties), then each task's
        artifacts, then every event and link of the batch at once. ``seen`` receives the
        run context and execution type ids, to be cached once the transaction commits."""
        run_contexts = {
            run_id: self._run_contexts.get(run_id) or self._run_context_id(session, run_id)
            for run_id, _ in tasks
        }
        execution_types = {
            name: self._execution_types.get(name)
            or self.store._put_type(
                session, EXECUTION_TYPE, pb.ExecutionType(name=name), True, True
            )
            for name in {task.execution_type for _, task in tasks}
        }
        seen["runs"], seen["types"] = run_contexts, execution_types
        # The executions go in as rows (the recorder built them: nothing to check); those
        # recorded before are then updated as messages, like any client's.
        conn = session.connection()
        now = now_ms()
        rows: list[dict[str, Any]] = []
        properties: list[list[dict[str, Any]]] = []
        for (run_id, task), state, external_id in zip(tasks, states, external_ids, strict=True):
            rows.append(
                {
                    "type_id": execution_types[task.execution_type],
                    "name": external_id,
                    "external_id": external_id,
                    "last_known_state": state,
                    "create_time_since_epoch": now,
                    "last_update_time_since_epoch": now,
                }
            )
            properties.append(
                [
                    python_property_row(0, key, value, custom=True)
                    for key, value in self._custom_properties(run_id, task).items()
                ]
            )
        created, existing = self.store._insert_unless_stored(conn, EXECUTIONS, rows, properties)
        if existing:
            updates = []
            for (run_id, task), state, row in zip(tasks, states, rows, strict=True):
                if row["external_id"] in existing:
                    execution = self._execution(
                        run_id, task, state, row["external_id"], row["type_id"]
                    )
                    execution.id = existing[row["external_id"]]
                    updates.append(execution)
            self.store._put_nodes(session, EXECUTIONS, updates)
        execution_ids = [created.get(e) or existing[e] for e in external_ids]

        # Events already stored: only an execution recorded before can have any.
        stored_events: set[tuple[int, int, int]] = set()
        for ids_chunk in in_chunks(sorted(existing.values())):
            stored_events.update(
                (int(e), int(a), int(t))
                for e, a, t in session.execute(
                    select(EVENTS.c.execution_id, EVENTS.c.artifact_id, EVENTS.c.type).where(
                        EVENTS.c.execution_id.in_(ids_chunk)
                    )
                )
            )
        results: list[RecordedTask] = []
        new_events: list[pb.Event] = []
        attributions: list[tuple[int, int]] = []
        associations: list[tuple[int, int]] = []
        for (run_id, task), state, external_id, execution_id in zip(
            tasks, states, external_ids, execution_ids, strict=True
        ):
            if not task.input_artifacts and not task.output_artifacts:
                associations.append((run_contexts[run_id], execution_id))
                results.append(RecordedTask(execution_id, {}, {}))
                continue
            inputs = {
                name: [self._input_artifact(session, name, i, a) for i, a in enumerate(items)]
                for name, items in task.input_artifacts.items()
            }
            outputs = {
                name: [
                    self._output_artifact(
                        session,
                        f"{external_id}/{name}/{i}",
                        name,
                        a,
                        cached=state == pb.Execution.CACHED,
                    )
                    for i, a in enumerate(items)
                ]
                for name, items in task.output_artifacts.items()
            }
            for event_type, named in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
                for name, ids in named.items():
                    for artifact_id in ids:
                        key = (execution_id, artifact_id, int(event_type))
                        if key in stored_events:
                            continue
                        stored_events.add(key)
                        event = pb.Event(
                            artifact_id=artifact_id,
                            execution_id=execution_id,
                            type=event_type,
                        )
                        event.path.steps.add().key = name
                        new_events.append(event)
            run_context_id = run_contexts[run_id]
            artifact_ids = sorted({a for ids in [*inputs.values(), *outputs.values()] for a in ids})
            attributions.extend((run_context_id, a) for a in artifact_ids)
            associations.append((run_context_id, execution_id))
            results.append(RecordedTask(execution_id, outputs, inputs))
        # Every node named below was written or checked in this transaction.
        self.store._put_events(session, new_events, verified=True)
        self.store._link(session, attributions, associations, verified=True)
        return results

    @staticmethod
    def _execution(
        run_id: str, task: TaskLineage, state: int, external_id: str, type_id: int
    ) -> pb.Execution:
        execution = pb.Execution(
            type_id=type_id,
            name=external_id,
            external_id=external_id,
            last_known_state=state,  # type: ignore[arg-type]
        )
        for key, value in LineageRecorder._custom_properties(run_id, task).items():
            execution.custom_properties[key].CopyFrom(python_value(value))
        return execution

    @staticmethod
    def _custom_properties(run_id: str, task: TaskLineage) -> dict[str, Any]:
        """The execution's custom properties, as plain values."""
        custom: dict[str, Any] = {
            "task_name": task.task_name,
            "display_name": task.display_name or task.task_name,
            "run_id": run_id,
            "inputs": dict(task.input_parameters),
        }
        if task.output_parameters:
            custom["outputs"] = dict(task.output_parameters)
        if task.cache_fingerprint:
            custom["cache_fingerprint"] = task.cache_fingerprint
        if task.cached_from_execution_id is not None:
            custom["cached_execution_id"] = task.cached_from_execution_id
        return custom

    def _artifact_type(self, session: Session, spec: Mapping[str, Any], where: str) -> int:
        schema = spec.get("type") or {}
        title = schema.get("schemaTitle") if isinstance(schema, Mapping) else None
        if not title:
            raise InvalidArgument(f"{where}: type.schemaTitle must be set")
        return self.store._put_type(session, ARTIFACT_TYPE, pb.ArtifactType(name=title), True, True)

    def _input_artifact(
        self, session: Session, name: str, index: int, spec: Mapping[str, Any]
    ) -> int:
        where = f"input_artifacts[{name!r}][{index}]"
        if spec.get("artifact_id") is not None:
            return self._known_artifact(session, int(spec["artifact_id"]), where)
        uri = spec.get("uri")
        if not uri:
            raise InvalidArgument(f"{where}: needs an artifact_id or a uri")
        type_id = self._artifact_type(session, spec, where)
        found = self._latest_with_uri(session, type_id, str(uri))
        if found is not None:
            return found
        return self.store._put_nodes(session, ARTIFACTS, [self._artifact(type_id, name, spec)])[0]

    def _latest_with_uri(self, session: Session, type_id: int, uri: str) -> int | None:
        table = ARTIFACTS.table
        found = session.execute(
            select(table.c.id)
            .where(table.c.type_id == type_id, table.c.uri == uri)
            .order_by(table.c.id.desc())
            .limit(1)
        ).scalar()
        return None if found is None else int(found)

    def _output_artifact(
        self,
        session: Session,
        external_id: str,
        name: str,
        spec: Mapping[str, Any],
        *,
        cached: bool,
    ) -> int:
        where = f"output_artifacts[{name!r}]"
        if spec.get("artifact_id") is not None:
            return self._known_artifact(session, int(spec["artifact_id"]), where)
        type_id = self._artifact_type(session, spec, where)
        if cached and spec.get("uri"):
            # A cache hit's outputs are the reused execution's artifacts: link those.
            reused = self._latest_with_uri(session, type_id, str(spec["uri"]))
            if reused is not None:
                return reused
        artifact = self._artifact(type_id, name, spec)
        artifact.external_id = external_id
        found = session.execute(
            select(ARTIFACTS.table.c.id).where(ARTIFACTS.table.c.external_id == external_id)
        ).scalar()
        if found is not None:
            artifact.id = int(found)
        return self.store._put_nodes(session, ARTIFACTS, [artifact])[0]

    def _artifact(self, type_id: int, name: str, spec: Mapping[str, Any]) -> pb.Artifact:
        artifact = pb.Artifact(type_id=type_id, state=pb.Artifact.LIVE)
        if spec.get("uri"):
            artifact.uri = str(spec["uri"])
        artifact.custom_properties["display_name"].string_value = str(spec.get("name") or name)
        for key, value in (spec.get("metadata") or {}).items():
            artifact.custom_properties[str(key)].CopyFrom(python_value(value))
        return artifact

    def _known_artifact(self, session: Session, artifact_id: int, where: str) -> int:
        self.store._require(session, ARTIFACTS, {artifact_id}, where)
        return artifact_id

    # ------------------------------------------------------------------ reading
    def lineage_of_run(self, run_id: str) -> dict[str, Any]:
        """The run's lineage as plain data: its contexts, executions and their artifacts."""
        with self.store.db.read() as session:
            run_context_id = self._run_context_id(session, run_id)
            execution_ids = list(
                session.execute(
                    select(EXECUTIONS.table.c.id)
                    .where(self.store.context_condition(EXECUTIONS, run_context_id))
                    .order_by(EXECUTIONS.table.c.id)
                ).scalars()
            )
            executions = self.store._load_nodes(session, EXECUTIONS, execution_ids)
            events = self.store._events(session, EVENTS.c.execution_id, execution_ids)
            artifacts = self.store._load_nodes(
                session, ARTIFACTS, sorted({e.artifact_id for e in events})
            )
            parents = list(
                session.execute(
                    select(PARENT_CONTEXTS.c.parent_context_id).where(
                        PARENT_CONTEXTS.c.context_id == run_context_id
                    )
                ).scalars()
            )
        by_execution: dict[int, dict[str, dict[str, list[int]]]] = {
            e.id: {"inputs": {}, "outputs": {}} for e in executions
        }
        for event in events:
            side = "inputs" if event.type == pb.Event.INPUT else "outputs"
            key = event.path.steps[0].key if event.path.steps else ""
            by_execution[event.execution_id][side].setdefault(key, []).append(event.artifact_id)
        return {
            "run_context_id": run_context_id,
            "pipeline_context_ids": parents,
            "executions": [
                {
                    "id": e.id,
                    "name": e.name,
                    "type": e.type,
                    "state": pb.Execution.State.Name(e.last_known_state),
                    "task_name": e.custom_properties["task_name"].string_value,
                    **by_execution[e.id],
                }
                for e in executions
            ],
            "artifacts": {
                a.id: {
                    "uri": a.uri,
                    "type": a.type,
                    "name": a.custom_properties["display_name"].string_value,
                }
                for a in artifacts
            },
        }
