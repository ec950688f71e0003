from __future__ import annotations

from datetime import datetime
from typing import Any

from api_server.services import RecurringRunInput, Trigger
from domain.resources import Page, RecurringRun

from .base import RuntimeConfigWire, StatusOut, VersionReference, WireModel
from .runs import reference_of, source_of


class CronScheduleWire(WireModel):
    start_time: str | datetime | None = None
    end_time: str | datetime | None = None
    cron: str | None = None


class PeriodicScheduleWire(WireModel):
    start_time: str | datetime | None = None
    end_time: str | datetime | None = None
    interval_second: int | str | None = None  # int64: a JSON string or number


class TriggerWire(WireModel):
    cron_schedule: CronScheduleWire | None = None
    periodic_schedule: PeriodicScheduleWire | None = None


class RecurringRunIn(WireModel):
    display_name: str | None = None
    description: str | None = None
    pipeline_version_id: str | None = None
    pipeline_spec: dict[str, Any] | None = None
    pipeline_version_reference: VersionReference | None = None
    runtime_config: RuntimeConfigWire | None = None
    service_account: str | None = None
    max_concurrency: int | str | None = None
    trigger: TriggerWire | None = None
    mode: str | None = None
    no_catchup: bool | None = None
    namespace: str | None = None
    experiment_id: str | None = None
    plugins_input: dict[str, Any] | None = None

    def to_input(self) -> RecurringRunInput:
        trigger = None
        if self.trigger and (self.trigger.cron_schedule or self.trigger.periodic_schedule):
            cron = self.trigger.cron_schedule or CronScheduleWire()
            periodic = self.trigger.periodic_schedule or PeriodicScheduleWire()
            # Both kinds given is refused by the service with a message that says so.
            trigger = Trigger(
                cron=cron.cron or ("" if self.trigger.cron_schedule else None),
                interval_seconds=periodic.interval_second,
                start_time=cron.start_time or periodic.start_time,
                end_time=cron.end_time or periodic.end_time,
            )
        return RecurringRunInput(
            display_name=self.display_name,
            source=source_of(
                self.pipeline_version_reference, self.pipeline_version_id, self.pipeline_spec
            ),
            trigger=trigger,
            experiment_id=self.experiment_id or None,
            description=self.description,
            runtime_config=self.runtime_config.model_dump(exclude_none=True)
            if self.runtime_config
            else None,
            service_account=self.service_account,
            max_concurrency=self.max_concurrency,
            mode=self.mode,
            no_catchup=self.no_catchup,
            namespace=self.namespace,
            plugins_input=self.plugins_input,
        )


class CronScheduleOut(WireModel):
    start_time: datetime | None = None
    end_time: datetime | None = None
    cron: str


class PeriodicScheduleOut(WireModel):
    start_time: datetime | None = None
    end_time: datetime | None = None
    interval_second: str


class TriggerOut(WireModel):
    cron_schedule: CronScheduleOut | None = None
    periodic_schedule: PeriodicScheduleOut | None = None


class RecurringRunOut(WireModel):
    recurring_run_id: str
    display_name: str
    description: str | None = None
    pipeline_spec: dict[str, Any] | None = None
    pipeline_version_reference: VersionReference | None = None
    runtime_config: dict[str, Any] | None = None
    service_account: str | None = None
    max_concurrency: str
    trigger: TriggerOut
    mode: str
    created_at: datetime
    updated_at: datetime
    status: str
    error: StatusOut | None = None
    no_catchup: bool | None = None
    namespace: str | None = None
    experiment_id: str
    plugins_input: dict[str, Any] | None = None

    @classmethod
    def from_domain(cls, r: RecurringRun) -> RecurringRunOut:
        if r.cron:
            trigger = TriggerOut(
                cron_schedule=CronScheduleOut(
                    start_time=r.start_time, end_time=r.end_time, cron=r.cron
                )
            )
        else:
            trigger = TriggerOut(
                periodic_schedule=PeriodicScheduleOut(
                    start_time=r.start_time,
                    end_time=r.end_time,
                    interval_second=str(r.interval_seconds or 0),
                )
            )
        return cls(
            recurring_run_id=r.recurring_run_id,
            display_name=r.display_name,
            description=r.description or None,
            pipeline_spec=r.pipeline_spec,
            pipeline_version_reference=reference_of(r.pipeline_id, r.pipeline_version_id),
            runtime_config=r.runtime_config or {"parameters": {}},
            service_account=r.service_account or None,
            max_concurrency=str(r.max_concurrency),
            trigger=trigger,
            mode="ENABLE" if r.status == "ENABLED" else "DISABLE",
            created_at=r.created_at,
            updated_at=r.updated_at,
            status=r.status,
            no_catchup=r.no_catchup,
            namespace=r.namespace or None,
            experiment_id=r.experiment_id,
            plugins_input=r.plugins_input,
        )


class ListRecurringRunsOut(WireModel):
    # KFP's JSON name for this one list is camelCase; kfp.Client reads exactly this key.
    recurringRuns: list[RecurringRunOut] | None = None
    total_size: int
    next_page_token: str | None = None

    @classmethod
    def from_page(cls, page: Page[RecurringRun]) -> ListRecurringRunsOut:
        return cls(
            recurringRuns=[RecurringRunOut.from_domain(r) for r in page.items] or None,
            total_size=page.total_size,
            next_page_token=page.next_page_token or None,
        )
