"""The schedule state the scheduler reads and advances, over the recurring-run rows.

``ScheduleStateService`` is the storage side of ``scheduled_controller.ScheduleLoop``: the
composition root hands the loop this service and ``RunService`` (which creates the runs).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from api_server.storage import recurring_runs as store
from api_server.storage import runs as run_store
from domain.resources import RecurringRun
from domain.states import RecurringRunStatus
from scheduled_controller import Advance, DueSchedule, Schedule, Trigger, initial_cursor

from .context import ServiceContext


def schedule_of(recurring_run: RecurringRun) -> Schedule:
    """The core's view of a recurring run."""
    return Schedule(
        trigger=Trigger(
            cron=recurring_run.cron,
            interval_seconds=recurring_run.interval_seconds,
            start_time=recurring_run.start_time,
            end_time=recurring_run.end_time,
        ),
        created_at=recurring_run.created_at,
        enabled=recurring_run.status == RecurringRunStatus.ENABLED.value,
        no_catchup=recurring_run.no_catchup,
        max_concurrency=recurring_run.max_concurrency,
    )


class ScheduleStateService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def due_schedules(self, now: datetime, limit: int) -> builtins.list[DueSchedule]:
        with self.ctx.db.read() as session:
            rows = store.due(session, now, limit)
        due = []
        for row in rows:
            recurring_run = store.to_domain(row)
            schedule = schedule_of(recurring_run)
            config: dict[str, Any] = recurring_run.runtime_config or {}
            due.append(
                DueSchedule(
                    recurring_run_id=recurring_run.recurring_run_id,
                    display_name=recurring_run.display_name,
                    schedule=schedule,
                    fire_after=row.fire_after or initial_cursor(schedule),
                    next_fire_at=row.next_fire_at,
                    last_index=row.last_index,
                    parameters=dict(config.get("parameters") or {}),
                    template=recurring_run,
                )
            )
        return due

    def active_runs(self, recurring_run_ids: Sequence[str]) -> dict[str, list[datetime | None]]:
        with self.ctx.db.read() as session:
            return run_store.active_by_recurring_run(session, list(recurring_run_ids))

    def advance(self, advances: Sequence[Advance]) -> int:
        states = [
            {
                "b_id": item.recurring_run_id,
                "b_expected": item.expected_next_fire_at,
                "b_fire_after": item.fire_after,
                "b_next": item.next_fire_at,
                "b_index": item.last_index,
            }
            for item in advances
        ]
        with self.ctx.db.write() as session:
            return store.advance(session, states)

    def earliest_wake(self) -> datetime | None:
        with self.ctx.db.read() as session:
            return store.earliest_wake(session)
