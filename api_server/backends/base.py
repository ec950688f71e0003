"""The run-backend interface: how the service layer hands runs to whatever executes them,
and how status comes back.

Direction of calls
------------------
* The service layer stores a run (state ``PENDING``) and, after the transaction commits,
  calls ``backend.submit(run)``. ``terminate`` and ``retry`` follow the same pattern.
  Backend methods must return quickly (queue work, create a Workflow CR, ...); they never
  touch Headrace's tables.
* The backend reports every run or task transition by calling ``StatusSink.report(event)``
  (``RunService.report_status``), from any thread, any number of times. That call is
  idempotent and ordered: a repeated event changes nothing, a stale one (older
  ``generation`` or an ``update_time`` before the run's last transition) is ignored, a
  terminal state is final until a retry, and a run never moves backwards
  (``api_server/services/run_states.py`` holds the transition table). It returns whether
  anything changed.
* ``generation`` counts retries: ``retry`` bumps it before calling ``backend.retry``, and
  events carrying an older generation are dropped, so a late report from before the retry
  cannot overwrite the new attempt.
* After a crash a backend finds its unfinished work with ``StatusSink.unfinished_runs`` and
  what it had reported for each with ``StatusSink.reported_tasks``, and resubmits it;
  ``submit`` must therefore be safe to call twice for the same run and generation.
* A task event of a newer generation may move a task out of a terminal state (a retry runs
  it again); within a generation, an event with the task's current state updates its
  details (outputs, executor detail) without adding to its history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class SubmittedRun:
    """Everything a backend needs to execute a run."""

    run_id: str
    generation: int
    experiment_id: str
    namespace: str
    display_name: str
    pipeline_spec: dict[str, Any]
    platform_spec: dict[str, Any] | None
    parameters: dict[str, Any]
    pipeline_root: str | None
    service_account: str
    created_at: datetime


@dataclass(frozen=True)
class TaskStatusEvent:
    task_id: str
    state: str
    update_time: datetime
    display_name: str = ""
    parent_task_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: dict[str, Any] | None = None
    execution_id: str | None = None
    pod_name: str | None = None
    executor_detail: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunStatusEvent:
    """A run transition (``state`` may be None to report task changes only)."""

    run_id: str
    generation: int
    update_time: datetime
    state: str | None = None
    error: dict[str, Any] | None = None
    tasks: list[TaskStatusEvent] = field(default_factory=list)


@dataclass(frozen=True)
class RestoredTask:
    """A task as a backend reported it earlier, read back when it resumes a run."""

    state: str
    outputs: dict[str, Any] | None
    executor_detail: dict[str, Any] | None


class StatusSink(Protocol):
    def report(self, event: RunStatusEvent) -> bool:
        """Apply a status event; True if it changed anything."""
        ...

    def unfinished_runs(self, run_id: str | None = None) -> list[SubmittedRun]:
        """Runs in a non-terminal state, to resume after a restart; with ``run_id``, that
        run alone if it is unfinished."""
        ...

    def reported_tasks(self, run_id: str) -> dict[str, RestoredTask]:
        """Every task reported for a run, by task id (all generations)."""
        ...

    def existing_runs(self, run_ids: list[str]) -> set[str]:
        """Which of these runs exist (have not been deleted)."""
        ...


class RunBackend(Protocol):
    """What the service layer calls. Implementations: ``PendingBackend`` (no executor),
    the embedded engine, the Argo backend."""

    #: True when terminate() only asks for cancellation and the backend reports the end.
    reports_cancellation: bool

    def start(self, sink: StatusSink) -> None:
        """Called once at start-up, with the sink that receives status events."""

    def submit(self, run: SubmittedRun) -> None:
        """Begin executing a stored run. Must be idempotent per (run_id, generation)."""

    def terminate(self, run_id: str) -> None:
        """Stop a run; the backend reports CANCELING/CANCELED through the sink."""

    def retry(self, run: SubmittedRun) -> None:
        """Re-run the failed and cancelled parts of a run at the new generation."""

    def forget(self, run_id: str) -> None:
        """The run was deleted (and terminated, if it was running): drop what the backend
        keeps for it (logs, working folders) once it has stopped. Its outputs stay, as
        artifacts do in KFP."""

    def stop(self) -> None:
        """Release resources at shutdown."""
