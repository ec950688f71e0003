"""The API's resources as the service layer sees them: plain dataclasses, free of SQL and
of wire formats. Storage builds them, services return them, REST and gRPC translate them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Status:
    """A google.rpc.Status: an error attached to a resource."""

    code: int
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> Status | None:
        if not value:
            return None
        return cls(
            int(value.get("code", 0)), str(value.get("message", "")), value.get("details") or []
        )

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total_size: int
    next_page_token: str


@dataclass(frozen=True)
class Pipeline:
    pipeline_id: str
    name: str
    display_name: str
    description: str
    namespace: str
    tags: dict[str, str] | None
    created_at: datetime


@dataclass(frozen=True)
class PipelineVersion:
    pipeline_version_id: str
    pipeline_id: str
    name: str
    display_name: str
    description: str
    created_at: datetime
    spec_digest: str
    package_url: str | None
    code_source_url: str | None
    tags: dict[str, str] | None
    # The submitted spec, in the shape it was given (bare, or wrapper with platform spec);
    # loaded only by single-resource reads.
    pipeline_spec: dict[str, Any] | None = None


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    display_name: str
    description: str
    namespace: str
    storage_state: str
    created_at: datetime
    last_run_created_at: datetime | None


@dataclass(frozen=True)
class RuntimeStatus:
    state: str
    update_time: datetime
    error: Status | None = None


@dataclass(frozen=True)
class Task:
    task_id: str
    run_id: str
    display_name: str
    state: str
    create_time: datetime
    parent_task_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: Status | None = None
    execution_id: str | None = None
    pod_name: str | None = None
    executor_detail: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    state_history: list[RuntimeStatus] = field(default_factory=list)
    child_task_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment_id: str
    namespace: str
    display_name: str
    description: str
    pipeline_id: str | None
    pipeline_version_id: str | None
    spec_digest: str
    runtime_config: dict[str, Any] | None
    service_account: str
    storage_state: str
    state: str
    generation: int
    error: Status | None
    recurring_run_id: str | None
    plugins_input: dict[str, Any] | None
    created_at: datetime
    scheduled_at: datetime | None
    finished_at: datetime | None
    # Filled by single-run reads only (lists are projections).
    pipeline_spec: dict[str, Any] | None = None
    state_history: list[RuntimeStatus] | None = None
    tasks: list[Task] | None = None


@dataclass(frozen=True)
class RecurringRun:
    recurring_run_id: str
    display_name: str
    description: str
    experiment_id: str
    namespace: str
    pipeline_id: str | None
    pipeline_version_id: str | None
    spec_digest: str
    runtime_config: dict[str, Any] | None
    service_account: str
    max_concurrency: int
    cron: str | None
    interval_seconds: int | None
    start_time: datetime | None
    end_time: datetime | None
    no_catchup: bool
    status: str
    plugins_input: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    pipeline_spec: dict[str, Any] | None = None
