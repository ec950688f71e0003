"""The schedule loop: one thread that sleeps until the earliest due slot, fires every due
slot in batches and records the schedules' new state.

It reaches storage and run creation only through the two small protocols below, which the
composition root fills with the API server's services (embedded mode) and a later
Kubernetes controller can fill with its own.

Firing is idempotent because a slot's run id is derived from (recurring run, slot): the
run insert is the idempotency point. The loop creates the runs first and records the
schedule's cursor after; a crash in between, a restart or a second scheduler on the same
database makes the next attempt meet the runs that exist (skipped, counted as already
fired) and move the cursor on. The cursor update is a compare-and-set on the
``next_fire_at`` that was read, so a slower scheduler never moves a schedule backwards.
"""

from __future__ import annotations

import logging
import threading
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .core import DEFAULT_HOLD_RECHECK, Schedule, plan
from .macros import substitute_parameters

logger = logging.getLogger(__name__)

# uuid5 namespace of scheduled run ids (fixed forever: changing it would re-fire slots).
RUN_ID_NAMESPACE = uuid.UUID("6f1d3c0e-2b1a-5d8e-9c4f-7a2e5b0d1c93")
_NAME_LIMIT = 255
# How long a schedule whose runs could not be created waits before it is tried again.
FAILED_RETRY = timedelta(seconds=30)


@dataclass(frozen=True)
class DueSchedule:
    """A schedule whose ``next_fire_at`` has come, as read from storage."""

    recurring_run_id: str
    display_name: str
    schedule: Schedule
    fire_after: datetime
    next_fire_at: datetime  # as read: the compare-and-set token of ``advance``
    last_index: int
    parameters: dict[str, Any]
    # What the run creator needs to build a run (opaque to the loop).
    template: Any = None


@dataclass(frozen=True)
class ScheduledRun:
    run_id: str
    display_name: str
    recurring_run_id: str
    scheduled_at: datetime
    created_at: datetime
    index: int
    parameters: dict[str, Any]
    template: Any = None


@dataclass(frozen=True)
class Advance:
    """A schedule's new state after a tick."""

    recurring_run_id: str
    expected_next_fire_at: datetime
    fire_after: datetime
    last_index: int
    next_fire_at: datetime | None


class ScheduleStore(Protocol):
    def due_schedules(self, now: datetime, limit: int) -> list[DueSchedule]:
        """Enabled schedules with ``next_fire_at <= now``, earliest first."""

    def active_runs(self, recurring_run_ids: Sequence[str]) -> dict[str, list[datetime | None]]:
        """The slot times of each schedule's unfinished runs."""

    def advance(self, advances: Sequence[Advance]) -> int:
        """Store new cursors where ``next_fire_at`` is still as read; returns how many."""

    def earliest_wake(self) -> datetime | None:
        """The smallest ``next_fire_at`` of an enabled schedule."""


class RunCreator(Protocol):
    def create_scheduled_runs(self, runs: Sequence[ScheduledRun]) -> set[str]:
        """Create the runs whose ids do not exist yet; returns the ids created."""


def scheduled_run_id(recurring_run_id: str, slot: datetime) -> str:
    """The one run id a slot of a schedule can ever have."""
    micros = int(slot.astimezone(UTC).timestamp() * 1_000_000)
    return str(uuid.uuid5(RUN_ID_NAMESPACE, f"{recurring_run_id}/{micros}"))


def scheduled_run_name(display_name: str, recurring_run_id: str, index: int, slot: datetime) -> str:
    """KFP's form ``<schedule>-<index>-<32-bit hash>``, the hash (CRC-32, in C: a pure
    Python FNV as KFP's cost 10 us a name) taken over the schedule id and slot, so the
    name, like the id, follows from the slot."""
    key = f"{recurring_run_id}/{slot.astimezone(UTC).isoformat()}".encode()
    suffix = f"-{index}-{zlib.crc32(key)}"
    return display_name[: _NAME_LIMIT - len(suffix)] + suffix


class SchedulerMetrics:
    """The loop's Prometheus series, in the registry it is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Histogram(
            "headrace_schedule_fire_lag_seconds",
            "Run created minus its slot time, per scheduled run created.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.current_lag = Gauge(
            "headrace_schedule_lag_seconds",
            "How far the scheduler is behind: now minus the oldest due slot at the last tick"
            " (0 when nothing was due).",
            registry=registry,
        )
        self.created = Counter(
            "headrace_scheduled_runs_total", "Runs created by the scheduler.", registry=registry
        )
        self.already_fired = Counter(
            "headrace_schedule_slots_already_fired_total",
            "Slots found already fired (after a restart, or by another scheduler).",
            registry=registry,
        )
        self.errors = Counter(
            "headrace_schedule_errors_total",
            "Ticks that failed and were retried.",
            registry=registry,
        )


class PreparedSlot(NamedTuple):
    item: DueSchedule
    slot: datetime
    number: int  # the run's [[Index]]
    run_id: str
    display_name: str


@dataclass
class Prepared:
    """A planned batch: schedules read and planned for ``now``, runs not yet created."""

    now: datetime
    due_schedules: int = 0
    more: bool = False
    oldest: datetime | None = None
    slots: list[PreparedSlot] = field(default_factory=list)
    advances: list[Advance] = field(default_factory=list)


@dataclass
class TickResult:
    due_schedules: int = 0
    created: int = 0
    already_fired: int = 0
    more: bool = False
    lags: list[float] = field(default_factory=list)


def _recorded(slots: Sequence[datetime | None], fire_after: datetime) -> int:
    """Active runs that count against max_concurrency: those of slots at or before the
    cursor. A run past the cursor was created but not recorded (a crash, or a racing
    scheduler): its slot is planned again, meets the run, and takes its place in the plan
    rather than a second place in the count."""
    return sum(1 for slot in slots if slot is None or slot <= fire_after)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ScheduleLoop:
    """The embedded scheduler. ``start()`` runs it on a daemon thread; ``wake()`` makes it
    look again at once (a schedule was created, enabled or changed); ``stop()`` ends it."""

    def __init__(
        self,
        store: ScheduleStore,
        runs: RunCreator,
        *,
        zone: ZoneInfo | None = None,
        clock: Callable[[], datetime] = _utc_now,
        batch_size: int = 10_000,
        hold_recheck: timedelta = DEFAULT_HOLD_RECHECK,
        max_sleep: float = 60.0,
        prefetch: float = 10.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.runs = runs
        self.zone = zone or ZoneInfo("UTC")
        self.clock = clock
        self.batch_size = batch_size
        self.hold_recheck = hold_recheck
        self.max_sleep = max_sleep
        self.prefetch = prefetch
        self.registry = registry or CollectorRegistry()
        self.metrics = SchedulerMetrics(self.registry)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="headrace-scheduler", daemon=True)
        self._thread.start()
        logger.info("scheduler started", extra={"time_zone": str(self.zone)})

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            logger.warning("scheduler did not stop within %.0f s", timeout)
        else:
            logger.info("scheduler stopped")

    def wake(self) -> None:
        self._wake.set()

    # --- one pass ---------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickResult:
        """Fire what is due at ``now`` (one batch of schedules) and record it."""
        return self.commit(self.prepare(now or self.clock()))

    def prepare(self, now: datetime) -> Prepared:
        """Read and plan what is due at ``now``, without writing anything. The loop does
        this shortly before a slot, so that at the slot only the inserts remain."""
        due = self.store.due_schedules(now, self.batch_size)
        prepared = Prepared(now=now, due_schedules=len(due), more=len(due) >= self.batch_size)
        if not due:
            return prepared
        prepared.oldest = min(item.next_fire_at for item in due)
        active = self.store.active_runs([item.recurring_run_id for item in due])
        for item in due:
            decision = plan(
                item.schedule,
                fire_after=item.fire_after,
                now=now,
                active_runs=_recorded(active.get(item.recurring_run_id, ()), item.fire_after),
                zone=self.zone,
                hold_recheck=self.hold_recheck,
            )
            index = item.last_index
            for slot in decision.due:
                index += 1
                prepared.slots.append(
                    PreparedSlot(
                        item,
                        slot,
                        index,
                        scheduled_run_id(item.recurring_run_id, slot),
                        scheduled_run_name(item.display_name, item.recurring_run_id, index, slot),
                    )
                )
            prepared.advances.append(
                Advance(
                    recurring_run_id=item.recurring_run_id,
                    expected_next_fire_at=item.next_fire_at,
                    fire_after=decision.fire_after,
                    last_index=index,
                    next_fire_at=decision.next_wake,
                )
            )
        return prepared

    def commit(self, prepared: Prepared) -> TickResult:
        """Create the prepared runs (stamped now: never before their slot) and record the
        schedules' new state."""
        result = TickResult(due_schedules=prepared.due_schedules, more=prepared.more)
        if prepared.oldest is None:
            self.metrics.current_lag.set(0)
            return result
        created_at = max(self.clock(), prepared.now)
        self.metrics.current_lag.set(max((created_at - prepared.oldest).total_seconds(), 0.0))
        runs = [
            ScheduledRun(
                run_id=p.run_id,
                display_name=p.display_name,
                recurring_run_id=p.item.recurring_run_id,
                scheduled_at=p.slot,
                created_at=created_at,
                index=p.number,
                parameters=substitute_parameters(
                    p.item.parameters, scheduled_at=p.slot, created_at=created_at, index=p.number
                )
                if p.item.parameters
                else {},
                template=p.item.template,
            )
            for p in prepared.slots
        ]
        advances = prepared.advances
        try:
            created = self.runs.create_scheduled_runs(runs) if runs else set()
        except Exception:
            created, failed = self._create_each_schedule_alone(runs)
            advances = self._park(prepared, failed, created_at)
        done = self.clock()
        for run in runs:
            if run.run_id in created:
                lag = max((done - run.scheduled_at).total_seconds(), 0.0)
                self.metrics.lag.observe(lag)
                result.lags.append(lag)
        result.created = len(created)
        result.already_fired = len(runs) - len(created)
        self.metrics.created.inc(result.created)
        if result.already_fired:
            self.metrics.already_fired.inc(result.already_fired)
            logger.info("slots already fired were skipped", extra={"count": result.already_fired})
        self.store.advance(advances)
        if result.created:
            # One line per batch (at most one a second), with what /metrics aggregates.
            logger.info(
                "scheduled runs created",
                extra={
                    "count": result.created,
                    "lag_seconds": round(max(result.lags), 3),
                    "slot": min(run.scheduled_at for run in runs).isoformat(),
                },
            )
        return result

    def _create_each_schedule_alone(self, runs: list[ScheduledRun]) -> tuple[set[str], set[str]]:
        """After a failed batch: each schedule's runs on their own, so that one schedule
        whose runs cannot be created does not stop all the others. Returns the run ids
        created and the schedules that failed; raises if every schedule failed (the
        database is down, say: the loop backs off and retries everything)."""
        by_schedule: dict[str, list[ScheduledRun]] = {}
        for run in runs:
            by_schedule.setdefault(run.recurring_run_id, []).append(run)
        created: set[str] = set()
        failed: set[str] = set()
        last_error: Exception | None = None
        for recurring_run_id, own in by_schedule.items():
            try:
                created |= self.runs.create_scheduled_runs(own)
            except Exception as exc:
                failed.add(recurring_run_id)
                last_error = exc
                logger.exception(
                    "runs of a schedule could not be created; retrying it later",
                    extra={"recurring_run_id": recurring_run_id},
                )
        if last_error is not None and len(failed) == len(by_schedule):
            raise last_error
        return created, failed

    def _park(self, prepared: Prepared, failed: set[str], now: datetime) -> list[Advance]:
        """The advances with each failed schedule's cursor kept and its next look put
        off by ``FAILED_RETRY``, so it does not fail every batch in the meantime."""
        return [
            replace(
                item,
                fire_after=due.fire_after,
                last_index=due.last_index,
                next_fire_at=now + FAILED_RETRY,
            )
            if item.recurring_run_id in failed and (due := self._due_of(prepared, item))
            else item
            for item in prepared.advances
        ]

    @staticmethod
    def _due_of(prepared: Prepared, advance: Advance) -> DueSchedule | None:
        for slot in prepared.slots:
            if slot.item.recurring_run_id == advance.recurring_run_id:
                return slot.item
        return None

    # --- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                timeout = self._step()
                backoff = 0.5
            except Exception:
                self.metrics.errors.inc()
                logger.exception("scheduler tick failed; retrying in %.1f s", backoff)
                timeout, backoff = backoff, min(backoff * 2, 30.0)
            if timeout > 0:
                self._wake.wait(timeout)

    def _step(self) -> float:
        """One turn of the loop; returns how long to sleep (a wake cuts it short).

        Asleep until ``prefetch`` seconds before the earliest wake time; then the due
        schedules are read and planned, the loop waits for the slot, and creates the runs
        (planning 10,000 schedules takes longer than inserting their runs). A wake while
        waiting drops the plan only if a schedule is now due before it; anything new that
        is due at the same slot is fired right after the planned batch.
        """
        earliest = self.store.earliest_wake()
        if earliest is None:
            return self.max_sleep
        lead = (earliest - self.clock()).total_seconds()
        if lead > self.prefetch:
            return min(lead - self.prefetch, self.max_sleep)
        prepared = self.prepare(max(earliest, self.clock()))
        while (wait := (prepared.now - self.clock()).total_seconds()) > 0:
            if not self._wake.wait(wait):
                break
            if self._stopping.is_set():
                return 0.0
            self._wake.clear()
            sooner = self.store.earliest_wake()
            if sooner is not None and sooner < prepared.now:
                return 0.0  # something is due before the planned slot: plan again
        self.commit(prepared)
        return 0.0
