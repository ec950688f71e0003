"""The embedded engine's lineage port, over :class:`LineageRecorder`.

The engine hands the jobs that finished together to ``record_many`` and keeps the ids it
returns in their task details (``record(job, outcome)`` does the same for one). This
adapter reads the engine's ``Job``/``JobOutcome`` by attribute (the protocols below), so the
metadata store needs nothing from the engine's package; the composition root plugs it in:
``EngineLineage(LineageRecorder(store))``.

``record_many`` uses one transaction for all of them; when that batch fails, its tasks are
recorded one by one, so a bad task fails alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
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
    """``record(job, outcome)``: the run's contexts (once per process and run), then the task;
    ``record_many`` does the same for many tasks at once.

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

    def record(self, job: JobLike, outcome: OutcomeLike) -> dict[str, Any] | None:
        [recorded] = self.record_many([(job, outcome)])
        if isinstance(recorded, Exception):
            raise recorded
        return recorded

    def record_many(
        self, finished: Sequence[tuple[JobLike, OutcomeLike]]
    ) -> list[dict[str, Any] | Exception | None]:
        """Record the tasks in one transaction; per task, in order, its ids for the task's
        details, or the exception that kept it unrecorded."""
        results: list[dict[str, Any] | Exception | None] = [None] * len(finished)
        batch: list[tuple[int, str, TaskLineage]] = []
        for position, (job, outcome) in enumerate(finished):
            try:
                self._start_run(job)
                batch.append((position, job.run_id, self._task(job, outcome)))
            except Exception as exc:
                results[position] = exc
        recorded: list[RecordedTask | Exception] = []
        if len(batch) > 1:  # a task given twice fails the batch too (record_tasks checks)
            try:
                recorded = list(self.recorder.record_tasks([(r, t) for _, r, t in batch]))
            except Exception:
                logger.debug("a lineage batch failed; recording its tasks one by one")
        if not recorded:
            for _, run_id, task in batch:
                try:
                    recorded.append(self.recorder.record_task(run_id, task))
                except Exception as exc:
                    recorded.append(exc)
        for (position, _, _), result in zip(batch, recorded, strict=True):
            results[position] = (
                result
                if isinstance(result, Exception)
                else {
                    "execution_id": result.execution_id,
                    "artifact_ids": result.artifact_ids,
                    "input_artifact_ids": result.input_artifact_ids,
                }
            )
        return results

    def _start_run(self, job: JobLike) -> None:
        if job.run_id not in self._started:
            run_name = job.context.job_name
            pipeline = (
                self.pipeline_name_of(job.run_id) or job.pipeline_name or run_name or job.run_id
            )
            self.recorder.start_run(job.run_id, pipeline, run_name)
            self._started.add(job.run_id)

    @staticmethod
    def _task(job: JobLike, outcome: OutcomeLike) -> TaskLineage:
        detail = outcome.executor_detail or {}
        cached = bool(detail.get("cached"))
        origin = detail.get("cached_from") or {}
        cached_from = origin.get("execution_id") if isinstance(origin, Mapping) else None
        outputs = outcome.outputs or {}
        return TaskLineage(
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
        )
