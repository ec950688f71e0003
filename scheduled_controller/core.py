"""The schedule core: pure functions from a recurring run's trigger and its state to the
slots due now and the next time to look. No I/O and no clock of its own, so the embedded
loop, the Kubernetes controller and the tests all drive it with the time they choose.

Time model:

* Every instant is an aware UTC ``datetime``; the schedule's time zone only changes how a
  cron expression is read.
* A cron expression names *wall-clock* times in the zone. Each wall time fires at most
  once: in a fall-back overlap (01:30 happens twice) it fires at the first 01:30; a wall
  time that does not exist (02:30 on a spring-forward day) fires when the gap ends (03:00),
  and every slot of the gap collapses into that one instant. A daily job is never lost and
  never doubled by a DST change.
* A periodic trigger is a grid of absolute instants ``anchor + k * interval`` (k >= 1),
  anchored at ``start_time`` or, without one, at the creation time (KFP's first periodic
  slot is one interval after its start); time zones do not affect it.
* ``fire_after`` is the cursor: slots at or before it never fire. It is the last fired
  slot, or the moment the schedule started, or was re-enabled (so the slots of a disabled
  period are skipped, not queued).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

# How long a slot held back by max_concurrency waits before the next look.
DEFAULT_HOLD_RECHECK = timedelta(seconds=2)
# Slots fired for one schedule in one plan; the rest are due again at once.
DEFAULT_MAX_SLOTS = 100
_SECOND = timedelta(seconds=1)


class TriggerError(ValueError):
    """A trigger that cannot be used; ``field`` names the offending input."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Trigger:
    """When a schedule fires: exactly one of ``cron`` and ``interval_seconds``."""

    cron: str | None = None
    interval_seconds: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True)
class Schedule:
    """A recurring run as the core sees it."""

    trigger: Trigger
    created_at: datetime
    enabled: bool = True
    no_catchup: bool = False
    max_concurrency: int = 1


@dataclass(frozen=True)
class Plan:
    """What to do now: fire ``due`` (oldest first), then store ``fire_after`` and look
    again at ``next_wake`` (None: never, the schedule has ended or is disabled)."""

    due: tuple[datetime, ...]
    fire_after: datetime
    next_wake: datetime | None
    held: bool = False


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def cron_fields(expression: str) -> tuple[str, bool]:
    """The normalised expression and whether it is KFP's seconds-first 6-field form.
    Cached: parsing an expression costs far more than the arithmetic on it."""
    text = " ".join(expression.split())
    count = len(text.split(" ")) if text else 0
    if count not in (5, 6):
        raise TriggerError(
            "cron", f"expected 5 or 6 fields (6 = seconds first, as KFP), got {count}"
        )
    try:
        croniter(text, datetime(2000, 1, 1), second_at_beginning=count == 6).get_next(datetime)
    except Exception as exc:  # croniter raises several unrelated types for bad input
        raise TriggerError("cron", f"{text!r} is not valid: {exc}") from exc
    return text, count == 6


def check_trigger(trigger: Trigger) -> Trigger:
    """The trigger with its cron normalised; TriggerError names what is wrong."""
    if trigger.cron and trigger.interval_seconds:
        raise TriggerError("trigger", "give a cron or a periodic interval, not both")
    if not trigger.cron and not trigger.interval_seconds:
        raise TriggerError("trigger", "a cron expression or a periodic interval is required")
    cron = None
    if trigger.cron:
        cron, _ = cron_fields(trigger.cron)
    elif trigger.interval_seconds is not None and trigger.interval_seconds <= 0:
        raise TriggerError("interval_second", "must be a positive number of seconds")
    if (
        trigger.start_time is not None
        and trigger.end_time is not None
        and _utc(trigger.end_time) <= _utc(trigger.start_time)
    ):
        raise TriggerError("end_time", "must be after start_time")
    return Trigger(cron, trigger.interval_seconds, trigger.start_time, trigger.end_time)


def initial_cursor(schedule: Schedule) -> datetime:
    """The cursor of a new schedule: its start time (which may lie in the past: catch-up
    then backfills from it, as KFP does), or its creation time."""
    return _utc(schedule.trigger.start_time or schedule.created_at)


def resume_cursor(fire_after: datetime, now: datetime) -> datetime:
    """The cursor after re-enabling at ``now``: the disabled period's slots never fire."""
    return max(_utc(fire_after), _utc(now))


# Wall-clock steps of a cron expression, cached: schedules commonly share an expression and,
# firing together, the same previous slot, so a tick over thousands of schedules computes
# each distinct step once (croniter builds its tables anew on every construction).
@functools.lru_cache(maxsize=65_536)
def _next_wall(cron: str, seconds_first: bool, wall: datetime) -> datetime:
    result: datetime = croniter(cron, wall, second_at_beginning=seconds_first).get_next(datetime)
    return result


@functools.lru_cache(maxsize=65_536)
def _prev_wall(cron: str, seconds_first: bool, wall: datetime) -> datetime:
    result: datetime = croniter(cron, wall, second_at_beginning=seconds_first).get_prev(datetime)
    return result


class _Slots:
    """The slots of one trigger in one zone, as UTC instants."""

    def __init__(self, schedule: Schedule, zone: ZoneInfo) -> None:
        trigger = schedule.trigger
        self.zone = zone
        self.end = _utc(trigger.end_time) if trigger.end_time else None
        self.cron: str | None = None
        self.seconds_first = False
        if trigger.cron:
            self.cron, self.seconds_first = cron_fields(trigger.cron)
            self.interval = timedelta(0)
        else:
            self.interval = timedelta(seconds=int(trigger.interval_seconds or 0))
            if self.interval <= timedelta(0):
                raise TriggerError("interval_second", "must be a positive number of seconds")
        self.anchor = _utc(trigger.start_time or schedule.created_at)

    def _in_window(self, slot: datetime) -> bool:
        return self.end is None or slot <= self.end

    def after(self, cursor: datetime) -> Iterator[datetime]:
        """Slots strictly after ``cursor`` in increasing order, up to the end time."""
        cursor = _utc(cursor)
        if self.cron is None:
            k = max((cursor - self.anchor) // self.interval + 1, 1)
            while True:
                slot = self.anchor + k * self.interval
                if not self._in_window(slot):
                    return
                yield slot
                k += 1
        wall = cursor.astimezone(self.zone).replace(tzinfo=None)
        while True:
            wall = _next_wall(self.cron, self.seconds_first, wall)
            slot = self._to_utc(wall)
            if slot <= cursor:
                continue  # a repeated wall time (fall-back) or one collapsed into a gap end
            if not self._in_window(slot):
                return
            cursor = slot
            yield slot

    def latest(self, cursor: datetime, now: datetime) -> datetime | None:
        """The latest slot in (cursor, now], or None."""
        cursor, now = _utc(cursor), _utc(now)
        if self.end is not None:
            now = min(now, self.end)
        if now <= cursor:
            return None
        if self.cron is None:
            k = (now - self.anchor) // self.interval
            slot = self.anchor + k * self.interval
            return slot if k >= 1 and slot > cursor else None
        wall = (now.astimezone(self.zone).replace(tzinfo=None, microsecond=0)) + _SECOND
        for _ in range(3):  # a slot mapped past ``now`` by a DST gap: look one further back
            wall = _prev_wall(self.cron, self.seconds_first, wall)
            slot = self._to_utc(wall)
            if slot <= now:
                return slot if slot > cursor else None
        return None

    def _to_utc(self, wall: datetime) -> datetime:
        """A wall time in the zone as UTC: the first occurrence of a repeated time, the end
        of the gap for a time that does not exist."""
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:
            return first
        # Inside a spring-forward gap: fold=1 reads the wall time with the later offset,
        # which lands before the transition. The transition is the first instant whose
        # wall time is past ``wall``; find it to the second.
        low = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        high = first
        while high - low > _SECOND:
            middle = low + (high - low) / 2
            if middle.astimezone(self.zone).replace(tzinfo=None) > wall:
                high = middle
            else:
                low = middle
        return high.replace(microsecond=0)


def next_slot(
    schedule: Schedule, fire_after: datetime, zone: ZoneInfo = ZoneInfo("UTC")
) -> datetime | None:
    """The first slot after the cursor, or None when the schedule has ended."""
    return next(_Slots(schedule, zone).after(fire_after), None)


def plan(
    schedule: Schedule,
    *,
    fire_after: datetime,
    now: datetime,
    active_runs: int = 0,
    zone: ZoneInfo = ZoneInfo("UTC"),
    hold_recheck: timedelta = DEFAULT_HOLD_RECHECK,
    max_slots: int = DEFAULT_MAX_SLOTS,
) -> Plan:
    """The slots to fire at ``now`` and when to look next.

    Catch-up fires every slot missed since the cursor, oldest first; ``no_catchup`` fires
    only the latest one. ``max_concurrency`` caps the schedule's active runs: while it is
    reached the oldest unfired slot is held (and looked at again after ``hold_recheck``).
    """
    fire_after, now = _utc(fire_after), _utc(now)
    slots = _Slots(schedule, zone)
    if not schedule.enabled:
        return Plan((), fire_after, None)
    capacity = max(schedule.max_concurrency - max(active_runs, 0), 0)
    if schedule.no_catchup:
        latest = slots.latest(fire_after, now)
        if latest is None:
            return Plan((), fire_after, next(slots.after(max(fire_after, now)), None))
        if capacity == 0:
            return Plan((), fire_after, now + hold_recheck, held=True)
        return Plan((latest,), latest, next(slots.after(max(latest, now)), None))
    due: list[datetime] = []
    upcoming: datetime | None = None
    for slot in slots.after(fire_after):
        if slot > now:
            upcoming = slot
            break
        if len(due) == min(capacity, max_slots):
            # More are due than may fire now: at once if only the batch size stopped us,
            # after hold_recheck if max_concurrency did.
            held = len(due) == capacity
            wake = now + hold_recheck if held else now
            return Plan(tuple(due), due[-1] if due else fire_after, wake, held=held)
        due.append(slot)
    return Plan(tuple(due), due[-1] if due else fire_after, upcoming)
