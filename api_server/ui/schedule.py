"""When a recurring run fires next, for display: pure arithmetic over its trigger.

Cron triggers use croniter in UTC (six fields means seconds first, as KFP writes them);
periodic triggers fire every ``interval_seconds`` counted from their start time (or from
creation when none is set). Nothing fires before ``start_time`` or after ``end_time``,
and a disabled schedule has no next fire time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from croniter import croniter

from domain.resources import RecurringRun
from domain.states import RecurringRunStatus


def describe_trigger(recurring_run: RecurringRun) -> str:
    if recurring_run.cron:
        return f"cron {recurring_run.cron} (UTC)"
    seconds = recurring_run.interval_seconds or 0
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"every {count} {unit}{'s' if count != 1 else ''}"
    return f"every {seconds} second{'s' if seconds != 1 else ''}"


def next_fire_times(recurring_run: RecurringRun, now: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` fire times after ``now`` (fewer if the window ends)."""
    if recurring_run.status != RecurringRunStatus.ENABLED.value or count <= 0:
        return []
    start = recurring_run.start_time
    after = max(now, start - timedelta(microseconds=1)) if start else now
    times: list[datetime] = []
    if recurring_run.cron:
        fields = len(recurring_run.cron.split())
        iterator = croniter(
            recurring_run.cron, after.astimezone(UTC), second_at_beginning=fields == 6
        )
        while len(times) < count:
            times.append(iterator.get_next(datetime).astimezone(UTC))
    elif recurring_run.interval_seconds:
        interval = recurring_run.interval_seconds
        anchor = start or recurring_run.created_at
        steps = max(math.floor((after - anchor).total_seconds() / interval) + 1, 0)
        times = [anchor + timedelta(seconds=interval * (steps + i)) for i in range(count)]
    end = recurring_run.end_time
    return [t for t in times if end is None or t <= end]
