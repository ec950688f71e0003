"""Wiring of the embedded schedule loop: the composition root hands it the schedule state
and the run-creation service, and wakes it when a schedule is created or enabled."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from api_server import Services
from domain.settings import Settings
from scheduled_controller import ScheduleLoop


def build_scheduler(settings: Settings, services: Services) -> ScheduleLoop:
    if services.schedules is None:
        raise ValueError("the services were built without schedule state")
    loop = ScheduleLoop(
        services.schedules, services.runs, zone=ZoneInfo(settings.schedule_timezone)
    )
    services.recurring_runs.on_schedule_change(loop.wake)
    return loop
