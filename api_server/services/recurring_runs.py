"""Recurring runs: stored, validated and switched on or off here; firing them is the
schedule loop's job."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from api_server.listing import parse_rfc3339
from api_server.storage import recurring_runs as store
from domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from domain.resources import Page, RecurringRun
from domain.states import RecurringRunStatus, StorageState
from scheduled_controller import (
    TriggerError,
    cron_fields,
    initial_cursor,
    next_slot,
    resume_cursor,
)

from . import validation
from .context import ListQuery, ServiceContext
from .experiments import ExperimentService
from .pipelines import PipelineService
from .runs import PipelineSource, resolve_template
from .schedules import schedule_of
from .specs import wire_spec

logger = logging.getLogger(__name__)

MAX_CONCURRENCY_LIMIT = 10


@dataclass(frozen=True)
class Trigger:
    cron: str | None = None
    interval_seconds: Any = None
    start_time: Any = None
    end_time: Any = None


@dataclass(frozen=True)
class RecurringRunInput:
    display_name: str | None
    source: PipelineSource
    trigger: Trigger | None
    experiment_id: str | None = None
    description: str | None = None
    runtime_config: Any = None
    service_account: str | None = None
    max_concurrency: Any = None
    mode: str | None = None
    no_catchup: bool | None = None
    namespace: str | None = None
    plugins_input: Any = None


def check_cron(expression: str) -> str:
    """Accept KFP's seconds-first 6-field cron and the classic 5-field form."""
    try:
        text, _ = cron_fields(expression)
    except TriggerError as exc:
        raise InvalidArgument(f"trigger.cron_schedule.cron: {exc.problem}") from exc
    return text


def _time(field: str, value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise InvalidArgument(f"{field}: must be an RFC 3339 timestamp")
    return parse_rfc3339(value, field)


def check_trigger(trigger: Trigger | None) -> dict[str, Any]:
    """The trigger's stored columns: exactly one of cron / interval, optional window."""
    if trigger is None or (not trigger.cron and trigger.interval_seconds in (None, "", 0, "0")):
        raise InvalidArgument(
            "trigger: one of cron_schedule.cron or periodic_schedule.interval_second is required"
        )
    if trigger.cron and trigger.interval_seconds not in (None, "", 0, "0"):
        raise InvalidArgument("trigger: give cron_schedule or periodic_schedule, not both")
    kind = "cron_schedule" if trigger.cron else "periodic_schedule"
    values: dict[str, Any] = {
        "cron": None,
        "interval_seconds": None,
        "start_time": _time(f"trigger.{kind}.start_time", trigger.start_time),
        "end_time": _time(f"trigger.{kind}.end_time", trigger.end_time),
    }
    if trigger.cron:
        values["cron"] = check_cron(trigger.cron)
    else:
        try:
            interval = int(str(trigger.interval_seconds))
        except ValueError as exc:
            raise InvalidArgument(
                "trigger.periodic_schedule.interval_second: must be an integer number of seconds"
            ) from exc
        if interval <= 0:
            raise InvalidArgument("trigger.periodic_schedule.interval_second: must be positive")
        values["interval_seconds"] = interval
    start, end = values["start_time"], values["end_time"]
    if start is not None and end is not None and end <= start:
        raise InvalidArgument(f"trigger.{kind}.end_time: must be after start_time")
    return values


def check_max_concurrency(value: Any) -> int:
    if value in (None, "", 0, "0"):
        return 1
    try:
        number = int(str(value))
    except ValueError as exc:
        raise InvalidArgument("max_concurrency: must be an integer from 1 to 10") from exc
    if not 1 <= number <= MAX_CONCURRENCY_LIMIT:
        raise InvalidArgument(f"max_concurrency: must be from 1 to 10, got {number}")
    return number


def check_mode(value: str | None) -> str:
    mode = (value or "ENABLE").upper()
    if mode in ("ENABLE", "MODE_UNSPECIFIED"):
        return RecurringRunStatus.ENABLED.value
    if mode == "DISABLE":
        return RecurringRunStatus.DISABLED.value
    raise InvalidArgument(f"mode: must be ENABLE or DISABLE, got {value!r}")


class RecurringRunService:
    def __init__(
        self, ctx: ServiceContext, experiments: ExperimentService, pipelines: PipelineService
    ) -> None:
        self.ctx = ctx
        self.experiments = experiments
        self.pipelines = pipelines
        self._listeners: builtins.list[Callable[[], None]] = []

    def on_schedule_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after a schedule is created or enabled (the scheduler's wake)."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def _first_wake(self, recurring_run: RecurringRun, fire_after: datetime) -> datetime | None:
        """When the scheduler should first look at a schedule: its first slot after the
        cursor (None: disabled, or no slot before its end time)."""
        if recurring_run.status != RecurringRunStatus.ENABLED.value:
            return None
        return next_slot(schedule_of(recurring_run), fire_after, self.ctx.schedule_zone)

    def create(self, data: RecurringRunInput) -> RecurringRun:
        display_name = validation.required_name("display_name", data.display_name)
        trigger = check_trigger(data.trigger)
        max_concurrency = check_max_concurrency(data.max_concurrency)
        status = check_mode(data.mode)
        plugins_input = validation.plugins_input(data.plugins_input)
        now = self.ctx.clock()
        if not data.experiment_id:
            self.experiments.ensure_default()
        with self.ctx.db.write() as session:
            experiment, source, runtime_config = resolve_template(
                self.ctx, self.experiments, self.pipelines, session, data
            )
            recurring_run = RecurringRun(
                recurring_run_id=self.ctx.new_id(),
                display_name=display_name,
                description=validation.description("description", data.description),
                experiment_id=experiment.experiment_id,
                namespace=experiment.namespace,
                pipeline_id=source.pipeline_id,
                pipeline_version_id=source.pipeline_version_id,
                spec_digest=source.spec_digest,
                runtime_config=runtime_config,
                service_account=validation.bounded("service_account", data.service_account, 255),
                max_concurrency=max_concurrency,
                no_catchup=bool(data.no_catchup),
                status=status,
                plugins_input=plugins_input,
                created_at=now,
                updated_at=now,
                **trigger,
            )
            if store.find_by_name(session, recurring_run.namespace, display_name):
                raise AlreadyExists(
                    f"recurring run {display_name!r} already exists"
                    f" in namespace {recurring_run.namespace!r}"
                )
            fire_after = initial_cursor(schedule_of(recurring_run))
            store.insert(
                session,
                recurring_run,
                StorageState.AVAILABLE.value,
                {
                    "fire_after": fire_after,
                    "next_fire_at": self._first_wake(recurring_run, fire_after),
                    "last_index": 0,
                },
            )
        self.ctx.specs.remember(source.spec_digest, source.document)
        self._notify()
        logger.info(
            "recurring run created", extra={"recurring_run_id": recurring_run.recurring_run_id}
        )
        spec = None if source.pipeline_version_id else wire_spec(source.document)
        return replace(recurring_run, pipeline_spec=spec)

    def get(self, recurring_run_id: str) -> RecurringRun:
        with self.ctx.db.read() as session:
            recurring_run = self._require(session, recurring_run_id)
            spec = None
            if recurring_run.pipeline_version_id is None:
                spec = wire_spec(self.ctx.specs.load(session, recurring_run.spec_digest))
        return replace(recurring_run, pipeline_spec=spec)

    def list(
        self, query: ListQuery, *, experiment_id: str | None, namespace: str | None
    ) -> Page[RecurringRun]:
        scope: dict[str, Any] = {
            "experiment_id": experiment_id or None,
            "namespace": validation.namespace(namespace) if namespace else None,
        }
        options = self.ctx.list_options(query, store.FIELDS, scope)
        with self.ctx.db.read() as session:
            if scope["experiment_id"]:
                ExperimentService.require(session, scope["experiment_id"])
            items, total, token = store.list_recurring_runs(
                session, options, scope=scope, secret=self.ctx.page_token_secret
            )
        return Page(items, total, token)

    def enable(self, recurring_run_id: str) -> None:
        with self.ctx.db.write() as session:
            recurring_run = self._require(session, recurring_run_id)
            experiment = ExperimentService.require(session, recurring_run.experiment_id)
            if experiment.storage_state == StorageState.ARCHIVED.value:
                raise FailedPrecondition(
                    f"recurring run {recurring_run_id!r} is in archived experiment"
                    f" {experiment.experiment_id!r}; unarchive the experiment first"
                )
            if recurring_run.status == RecurringRunStatus.ENABLED.value:
                return
            # The disabled period's slots are skipped: the cursor moves to now.
            now = self.ctx.clock()
            state = store.schedule_state(session, recurring_run_id)
            fire_after = resume_cursor(state["fire_after"] or recurring_run.created_at, now)
            enabled = replace(recurring_run, status=RecurringRunStatus.ENABLED.value)
            self._set_status(
                session,
                recurring_run,
                RecurringRunStatus.ENABLED,
                fire_after=fire_after,
                next_fire_at=self._first_wake(enabled, fire_after),
            )
        self._notify()

    def disable(self, recurring_run_id: str) -> None:
        with self.ctx.db.write() as session:
            self._set_status(
                session, self._require(session, recurring_run_id), RecurringRunStatus.DISABLED
            )

    def delete(self, recurring_run_id: str) -> None:
        """Delete the schedule; runs it already started are kept."""
        with self.ctx.db.write() as session:
            self._require(session, recurring_run_id)
            store.delete(session, recurring_run_id)
        logger.info("recurring run deleted", extra={"recurring_run_id": recurring_run_id})

    def _set_status(
        self,
        session: Session,
        recurring_run: RecurringRun,
        status: RecurringRunStatus,
        **schedule_state: Any,
    ) -> None:
        if recurring_run.status != status.value:
            store.set_fields(
                session,
                recurring_run.recurring_run_id,
                {"status": status.value, "updated_at": self.ctx.clock(), **schedule_state},
            )
            logger.info(
                "recurring run status changed",
                extra={"recurring_run_id": recurring_run.recurring_run_id, "status": status.value},
            )

    @staticmethod
    def _require(session: Session, recurring_run_id: str) -> RecurringRun:
        recurring_run = store.get(session, recurring_run_id)
        if recurring_run is None:
            raise NotFound(f"recurring run {recurring_run_id!r} does not exist")
        return recurring_run
