from __future__ import annotations

from datetime import datetime
from typing import Any

from api_server.services import PipelineSource, RunInput
from domain.resources import Page, Run, RuntimeStatus, Task

from .base import RuntimeConfigWire, StatusOut, VersionReference, WireModel


class RunIn(WireModel):
    experiment_id: str | None = None
    display_name: str | None = None
    description: str | None = None
    pipeline_version_id: str | None = None  # deprecated top-level form
    pipeline_spec: dict[str, Any] | None = None
    pipeline_version_reference: VersionReference | None = None
    runtime_config: RuntimeConfigWire | None = None
    service_account: str | None = None
    plugins_input: dict[str, Any] | None = None

    def to_input(self, experiment_id_param: str | None) -> RunInput:
        return RunInput(
            display_name=self.display_name,
            source=source_of(
                self.pipeline_version_reference, self.pipeline_version_id, self.pipeline_spec
            ),
            experiment_id=self.experiment_id or experiment_id_param or None,
            description=self.description,
            runtime_config=self.runtime_config.model_dump(exclude_none=True)
            if self.runtime_config
            else None,
            service_account=self.service_account,
            plugins_input=self.plugins_input,
        )


def source_of(
    reference: VersionReference | None, version_id: str | None, spec: dict[str, Any] | None
) -> PipelineSource:
    return PipelineSource(
        pipeline_id=(reference.pipeline_id if reference else None) or None,
        pipeline_version_id=(reference.pipeline_version_id if reference else None)
        or version_id
        or None,
        pipeline_spec=spec,
    )


def reference_of(pipeline_id: str | None, version_id: str | None) -> VersionReference | None:
    if not version_id:
        return None
    return VersionReference(pipeline_id=pipeline_id, pipeline_version_id=version_id)


class RuntimeStatusOut(WireModel):
    update_time: datetime
    state: str
    error: StatusOut | None = None

    @classmethod
    def from_domain(cls, s: RuntimeStatus) -> RuntimeStatusOut:
        return cls(update_time=s.update_time, state=s.state, error=StatusOut.from_domain(s.error))


class ChildTaskOut(WireModel):
    task_id: str


class TaskOut(WireModel):
    run_id: str
    task_id: str
    display_name: str
    create_time: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    executor_detail: dict[str, Any] | None = None
    state: str
    execution_id: str | None = None
    error: StatusOut | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    parent_task_id: str | None = None
    state_history: list[RuntimeStatusOut] | None = None
    pod_name: str | None = None
    child_tasks: list[ChildTaskOut] | None = None

    @classmethod
    def from_domain(cls, t: Task) -> TaskOut:
        return cls(
            run_id=t.run_id,
            task_id=t.task_id,
            display_name=t.display_name,
            create_time=t.create_time,
            start_time=t.start_time,
            end_time=t.end_time,
            executor_detail=t.executor_detail,
            state=t.state,
            execution_id=t.execution_id,
            error=StatusOut.from_domain(t.error),
            inputs=t.inputs,
            outputs=t.outputs,
            parent_task_id=t.parent_task_id,
            state_history=[RuntimeStatusOut.from_domain(s) for s in t.state_history] or None,
            pod_name=t.pod_name,
            child_tasks=[ChildTaskOut(task_id=c) for c in t.child_task_ids] or None,
        )


class RunDetailsOut(WireModel):
    task_details: list[TaskOut] | None = None


class RunOut(WireModel):
    experiment_id: str
    run_id: str
    display_name: str
    storage_state: str
    description: str | None = None
    pipeline_version_id: str | None = None
    pipeline_spec: dict[str, Any] | None = None
    pipeline_version_reference: VersionReference | None = None
    runtime_config: dict[str, Any] | None = None
    service_account: str | None = None
    created_at: datetime
    scheduled_at: datetime | None = None
    finished_at: datetime | None = None
    state: str
    error: StatusOut | None = None
    run_details: RunDetailsOut | None = None
    recurring_run_id: str | None = None
    state_history: list[RuntimeStatusOut] | None = None
    plugins_input: dict[str, Any] | None = None

    @classmethod
    def from_domain(cls, r: Run) -> RunOut:
        return cls(
            experiment_id=r.experiment_id,
            run_id=r.run_id,
            display_name=r.display_name,
            storage_state=r.storage_state,
            description=r.description or None,
            pipeline_spec=r.pipeline_spec,
            pipeline_version_reference=reference_of(r.pipeline_id, r.pipeline_version_id),
            runtime_config=r.runtime_config or {"parameters": {}},
            service_account=r.service_account or None,
            created_at=r.created_at,
            scheduled_at=r.scheduled_at,
            finished_at=r.finished_at,
            state=r.state,
            error=StatusOut.from_domain(r.error),
            run_details=RunDetailsOut(
                task_details=[TaskOut.from_domain(t) for t in r.tasks] or None
            )
            if r.tasks is not None
            else None,
            recurring_run_id=r.recurring_run_id,
            state_history=[RuntimeStatusOut.from_domain(s) for s in r.state_history] or None
            if r.state_history is not None
            else None,
            plugins_input=r.plugins_input,
        )


class ListRunsOut(WireModel):
    runs: list[RunOut] | None = None
    total_size: int
    next_page_token: str | None = None

    @classmethod
    def from_page(cls, page: Page[Run]) -> ListRunsOut:
        return cls(
            runs=[RunOut.from_domain(r) for r in page.items] or None,
            total_size=page.total_size,
            next_page_token=page.next_page_token or None,
        )
