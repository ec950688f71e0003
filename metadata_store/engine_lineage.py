"""The embedded engine's lineage port, over :class:`LineageRecorder`.

The engine hands each finished job to ``record(job, outcome)`` and keeps the ids it returns
in the task's details. This adapter reads the engine's ``Job``/``JobOutcome`` by attribute
(the protocols below), so the metadata store needs nothing from the engine's package; the
composition root plugs it in: ``EngineLineage(LineageRecorder(store))``.

Group commit: the engine's workers call ``record`` at once, many of them; rather than a
transaction each (which queue on the database's write lock, the engine's status writes
behind them), the first caller records every task waiting in one transaction while the
others wait for their ids. Each call still returns only once its task is committed, so the
engine never reports a task whose lineage is not stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .lineage import LineageRecorder, RecordedTask, TaskLineage

logger = logging.getLogger(__name__)

# The engine's outcome states, and what ML-Metadata calls them.
_STATES = {"SUCCEEDED": "COMPLETE", "FAILED": "FAILED", "CANCELED": "CANCELED"}


class JobContext(Protocol):
    @property
    def job_name(self) -> str: ...


class JobLike(Protocol):
    @property
    def run_id(self) -> str: ...
    @property
    def node_id(self) -> str: ...
    @property
    def pipeline_name(self) -> str: ...
    @property
    def task_name(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def parameters(self) -> Mapping[str, Any]: ...
    @property
    def artifacts(self) -> Mapping[str, list[dict[str, Any]]]: ...
    @property
    def cache_key(self) -> str: ...
    @property
    def context(self) -> JobContext: ...


class OutcomeLike(Protocol):
    @property
    def state(self) -> str: ...
    @property
    def outputs(self) -> Mapping[str, Any]: ...
    @property
    def executor_detail(self) -> Mapping[str, Any] | None: ...


class EngineLineage:
    """``record(job, outcome)``: the run's contexts (once per process and run), then the task.

    ``pipeline_name_of(run_id)`` names the pipeline context that groups a pipeline's runs;
    without it (or when it answers None) the run's display name is used.
    """

    def __init__(
        self,
        recorder: LineageRecorder,
        *,
        pipeline_name_of: Callable[[str], str | None] = lambda run_id: None,
    ) -> None:
        self.recorder = recorder
        self.pipeline_name_of = pipeline_name_of
        self._started: set[str] = set()
        self._group = _GroupCommit(recorder)

    def record(self, job: JobLike, outcome: OutcomeLike) -> dict[str, Any] | None:
        if job.run_id not in self._started:
            run_name = job.context.job_name
            pipeline = (
                self.pipeline_name_of(job.run_id) or job.pipeline_name or run_name or job.run_id
            )
            self.recorder.start_run(job.run_id, pipeline, run_name)
            self._started.add(job.run_id)
        detail = outcome.executor_detail or {}
        cached = bool(detail.get("cached"))
        origin = detail.get("cached_from") or {}
        cached_from = origin.get("execution_id") if isinstance(origin, Mapping) else None
        outputs = outcome.outputs or {}
        recorded = self._group.record(
            job.run_id,
            TaskLineage(
                task_id=job.node_id,
                task_name=job.task_name,
                display_name=job.display_name,
                state="CACHED" if cached else _STATES.get(outcome.state, "FAILED"),
                cache_fingerprint=str(detail.get("cache_key") or job.cache_key or "") or None,
                input_parameters=dict(job.parameters),
                input_artifacts=dict(job.artifacts),
                output_artifacts=dict(outputs.get("artifacts") or {}),
                output_parameters=dict(outputs.get("parameters") or {}),
                cached_from_execution_id=int(cached_from) if cached_from is not None else None,
            ),
        )
        return {
            "execution_id": recorded.execution_id,
            "artifact_ids": recorded.artifact_ids,
            "input_artifact_ids": recorded.input_artifact_ids,
        }


class _Pending:
    """One task waiting to be recorded, and then its result."""

    __slots__ = ("done", "error", "recorded", "run_id", "task")

    def __init__(self, run_id: str, task: TaskLineage) -> None:
        self.run_id = run_id
        self.task = task
        self.done = False
        self.recorded: RecordedTask | None = None
        self.error: BaseException | None = None

    def result(self) -> RecordedTask:
        if self.error is not None:
            raise self.error
        assert self.recorded is not None
        return self.recorded


class _GroupCommit:
    """Leader/follower group commit over ``LineageRecorder.record_tasks``: whoever finds
    no batch being written takes every waiting task (its own among them) and writes them in
    one transaction; the rest wait for it. A batch that fails is retried task by task, so
    one bad task fails alone."""

    def __init__(self, recorder: LineageRecorder) -> None:
        self.recorder = recorder
        self._condition = threading.Condition()
        self._waiting: list[_Pending] = []
        self._writing = False

    def record(self, run_id: str, task: TaskLineage) -> RecordedTask:
        pending = _Pending(run_id, task)
        with self._condition:
            self._waiting.append(pending)
            while self._writing and not pending.done:
                self._condition.wait()
            if pending.done:
                return pending.result()
            # Not written yet and nobody writing: lead, with everything waiting.
            self._writing = True
            batch, self._waiting = self._waiting, []
        try:
            self._write(batch)
        finally:
            with self._condition:
                self._writing = False
                for item in batch:
                    item.done = True
                self._condition.notify_all()
        return pending.result()

    def _write(self, batch: list[_Pending]) -> None:
        keys = {(item.run_id, item.task.task_id) for item in batch}
        if len(batch) > 1 and len(keys) == len(batch):
            try:
                recorded = self.recorder.record_tasks([(i.run_id, i.task) for i in batch])
            except Exception:
                logger.debug("a lineage batch failed; recording its tasks one by one")
            else:
                for item, result in zip(batch, recorded, strict=True):
                    item.recorded = result
                return
        for item in batch:
            try:
                item.recorded = self.recorder.record_task(item.run_id, item.task)
            except BaseException as exc:  # handed to the caller it belongs to
                item.error = exc
