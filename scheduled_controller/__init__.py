"""Recurring runs fire on time: the schedule core (pure), KFP's parameter macros, and the
loop that drives them against a store and a run creator handed in by the composition
root. Imports neither ``api_server`` nor ``headrace``."""

from .core import (
    DEFAULT_HOLD_RECHECK,
    Plan,
    Schedule,
    Trigger,
    TriggerError,
    check_trigger,
    cron_fields,
    initial_cursor,
    next_slot,
    plan,
    resume_cursor,
)
from .loop import (
    Advance,
    DueSchedule,
    Prepared,
    RunCreator,
    ScheduledRun,
    ScheduleLoop,
    SchedulerMetrics,
    ScheduleStore,
    TickResult,
    scheduled_run_id,
    scheduled_run_name,
)
from .macros import go_format, substitute, substitute_parameters

__all__ = [
    "DEFAULT_HOLD_RECHECK",
    "Advance",
    "DueSchedule",
    "Plan",
    "Prepared",
    "RunCreator",
    "Schedule",
    "ScheduleLoop",
    "ScheduleStore",
    "ScheduledRun",
    "SchedulerMetrics",
    "TickResult",
    "Trigger",
    "TriggerError",
    "check_trigger",
    "cron_fields",
    "go_format",
    "initial_cursor",
    "next_slot",
    "plan",
    "resume_cursor",
    "scheduled_run_id",
    "scheduled_run_name",
    "substitute",
    "substitute_parameters",
]
