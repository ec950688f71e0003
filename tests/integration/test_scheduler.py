"""The schedule loop against each backend: firing with derived ids, names and macros,
restarts and crashes between "create" and "record", two schedulers racing on one
database, max concurrency, enable/disable, and the loop thread's wake-up."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest
from service_inputs import Clock

from api_server import build_services
from api_server.rest.dependencies import Services
from api_server.services import (
    ListQuery,
    PipelineSource,
    RecurringRunInput,
    RunInput,
    ScheduleStateService,
    Trigger,
)
from api_server.storage import Database, build_engine
from api_server.storage import recurring_runs as recurring_store
from domain.errors import AlreadyExists
from domain.resources import RecurringRun, Run
from domain.settings import Settings
from scheduled_controller import Advance, ScheduleLoop, scheduled_run_id

SpecLoader = Callable[[str], dict[str, Any]]


def schedule(
    services: Services,
    spec: dict[str, Any],
    name: str,
    *,
    interval: int | None = 10,
    cron: str | None = None,
    **kwargs: Any,
) -> RecurringRun:
    kwargs.setdefault("max_concurrency", 10)
    return services.recurring_runs.create(
        RecurringRunInput(
            display_name=name,
            source=PipelineSource(pipeline_spec=spec),
            trigger=Trigger(cron=cron, interval_seconds=None if cron else interval),
            **kwargs,
        )
    )


def loop_for(services: Services, clock: Callable[[], datetime], **kwargs: Any) -> ScheduleLoop:
    assert services.schedules is not None
    return ScheduleLoop(services.schedules, services.runs, clock=clock, **kwargs)


def runs_of(services: Services, recurring_run_id: str) -> list[Run]:
    """The run history of a recurring run, through the list filter KFP clients use."""
    predicate = {"key": "recurring_run_id", "operation": "EQUALS", "string_value": recurring_run_id}
    runs: list[Run] = []
    token = None
    while True:
        page = services.runs.list(
            ListQuery(
                filter=json.dumps({"predicates": [predicate]}), page_size=200, page_token=token
            ),
            experiment_id=None,
            namespace=None,
        )
        runs.extend(page.items)
        token = page.next_page_token
        if not token:
            return sorted(runs, key=lambda r: r.scheduled_at or r.created_at)


def state_of(services: Services, recurring_run_id: str) -> dict[str, Any]:
    with services.db.read() as session:
        return recurring_store.schedule_state(session, recurring_run_id)


# --- creation stores the first wake -----------------------------------------------------------


def test_create_stores_the_first_wake(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    spec = compiled_spec("minimal")
    periodic = schedule(services, spec, "every minute", interval=60)
    state = state_of(services, periodic.recurring_run_id)
    assert state["fire_after"] == periodic.created_at
    assert state["next_fire_at"] == periodic.created_at + timedelta(seconds=60)
    assert state["last_index"] == 0

    hourly = schedule(services, spec, "hourly", cron="0 0 * * * *")
    assert state_of(services, hourly.recurring_run_id)["next_fire_at"] == datetime(
        2026, 3, 1, 13, tzinfo=UTC
    )
    disabled = schedule(services, spec, "off", mode="DISABLE")
    assert state_of(services, disabled.recurring_run_id)["next_fire_at"] is None
    assert services.schedules is not None
    assert services.schedules.earliest_wake() == periodic.created_at + timedelta(seconds=60)


# --- firing --------------------------------------------------------------------------------


def test_a_tick_fires_each_due_slot_with_derived_id_name_and_macros(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    recurring = schedule(
        services,
        compiled_spec("scalar_params"),
        "macros",
        interval=10,
        runtime_config={
            "parameters": {"label": "[[ScheduledTime.2006-01-02 15:04:05]] #[[Index]]", "count": 2}
        },
    )
    loop = loop_for(services, clock)
    assert loop.tick(clock.now).created == 0  # nothing is due yet
    clock.advance(35)
    result = loop.tick(clock.now)
    assert (result.created, result.already_fired) == (3, 0)

    runs = runs_of(services, recurring.recurring_run_id)
    start = recurring.created_at
    slots = [start + timedelta(seconds=s) for s in (10, 20, 30)]
    assert [r.scheduled_at for r in runs] == slots
    assert [r.run_id for r in runs] == [
        scheduled_run_id(recurring.recurring_run_id, slot) for slot in slots
    ]
    for index, (run, slot) in enumerate(zip(runs, slots, strict=True), start=1):
        assert run.recurring_run_id == recurring.recurring_run_id
        assert run.display_name.startswith(f"macros-{index}-")
        assert run.state == "PENDING"
        assert run.runtime_config is not None
        assert run.runtime_config["parameters"] == {
            "label": f"{slot:%Y-%m-%d %H:%M:%S} #{index}",
            "count": 2,
        }
        assert run.created_at >= slot
    state = state_of(services, recurring.recurring_run_id)
    assert state["fire_after"] == slots[-1]
    assert state["last_index"] == 3
    assert state["next_fire_at"] == start + timedelta(seconds=40)
    # The template keeps its macros; the next slot numbers on.
    assert services.recurring_runs.get(recurring.recurring_run_id).runtime_config == {
        "parameters": {"label": "[[ScheduledTime.2006-01-02 15:04:05]] #[[Index]]", "count": 2}
    }
    clock.advance(10)
    assert loop.tick(clock.now).created == 1
    assert runs_of(services, recurring.recurring_run_id)[-1].display_name.startswith("macros-4-")

    # Lag is observed per run created.
    text = generate_latest(loop.registry).decode()
    assert "headrace_schedule_fire_lag_seconds_count 4.0" in text
    assert "headrace_scheduled_runs_total 4.0" in text


def test_no_catchup_fires_only_the_latest_slot(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    recurring = schedule(services, compiled_spec("minimal"), "latest", interval=10, no_catchup=True)
    loop = loop_for(services, clock)
    clock.advance(55)
    assert loop.tick(clock.now).created == 1
    runs = runs_of(services, recurring.recurring_run_id)
    assert [r.scheduled_at for r in runs] == [recurring.created_at + timedelta(seconds=50)]
    assert state_of(services, recurring.recurring_run_id)["last_index"] == 1


def test_end_time_stops_the_schedule_for_good(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    end = clock.now + timedelta(seconds=25)
    recurring = services.recurring_runs.create(
        RecurringRunInput(
            display_name="window",
            source=PipelineSource(pipeline_spec=compiled_spec("minimal")),
            trigger=Trigger(interval_seconds=10, end_time=end),
            max_concurrency=10,
        )
    )
    loop = loop_for(services, clock)
    clock.advance(120)
    assert loop.tick(clock.now).created == 2
    assert state_of(services, recurring.recurring_run_id)["next_fire_at"] is None
    clock.advance(120)
    assert loop.tick(clock.now).due_schedules == 0


# --- idempotency ---------------------------------------------------------------------------


class CrashBeforeRecord:
    """A schedule store whose ``advance`` fails: the process 'dies' after creating the
    runs and before recording the cursor."""

    def __init__(self, inner: ScheduleStateService) -> None:
        self.inner = inner

    def due_schedules(self, now: datetime, limit: int) -> list[Any]:
        return self.inner.due_schedules(now, limit)

    def active_runs(self, ids: Sequence[str]) -> dict[str, list[datetime | None]]:
        return self.inner.active_runs(ids)

    def advance(self, advances: Sequence[Advance]) -> int:
        raise ConnectionError("the process died here")

    def earliest_wake(self) -> datetime | None:
        return self.inner.earliest_wake()


def test_a_crash_between_create_and_record_fires_no_slot_twice(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    recurring = schedule(services, compiled_spec("minimal"), "crashy", interval=10)
    assert services.schedules is not None
    crashing = ScheduleLoop(CrashBeforeRecord(services.schedules), services.runs, clock=clock)
    clock.advance(31)
    with pytest.raises(ConnectionError):
        crashing.tick(clock.now)
    assert len(runs_of(services, recurring.recurring_run_id)) == 3
    assert state_of(services, recurring.recurring_run_id)["last_index"] == 0  # not recorded

    # The restarted scheduler meets the three runs, skips them, and moves on.
    restarted = loop_for(services, clock)
    clock.advance(10)
    result = restarted.tick(clock.now)
    assert (result.created, result.already_fired) == (1, 3)
    runs = runs_of(services, recurring.recurring_run_id)
    slots = [r.scheduled_at for r in runs]
    assert slots == [recurring.created_at + timedelta(seconds=s) for s in (10, 20, 30, 40)]
    assert state_of(services, recurring.recurring_run_id)["last_index"] == 4
    text = generate_latest(restarted.registry).decode()
    assert "headrace_schedule_slots_already_fired_total 3.0" in text


def drain(
    loop: ScheduleLoop, now: datetime, barrier: threading.Barrier, errors: list[BaseException]
) -> None:
    """Tick until nothing is due at ``now``, starting together with the other scheduler."""
    barrier.wait(timeout=30)
    try:
        while loop.tick(now).due_schedules:
            pass
    except BaseException as exc:  # asserted by the caller
        errors.append(exc)


def test_two_schedulers_racing_create_exactly_one_run_per_slot(
    services: Services,
    clock: Clock,
    compiled_spec: SpecLoader,
    settings: Settings,
    database_url: str,
) -> None:
    spec = compiled_spec("minimal")
    schedules = [schedule(services, spec, f"race {i}", interval=5) for i in range(12)]
    # A second, independent service stack (own engine and pool) on the same database.
    other_db = Database(build_engine(database_url))
    other = build_services(settings, other_db)
    other.runs.ctx.clock = clock
    loops = [loop_for(services, clock, batch_size=5), loop_for(other, clock, batch_size=5)]
    try:
        for _ in range(3):  # 9 slots each: under max_concurrency, as runs stay PENDING
            now = clock.advance(15)
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []
            threads = [
                threading.Thread(target=drain, args=(loop, now, barrier, errors)) for loop in loops
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert not errors, errors
    finally:
        other_db.dispose()

    for recurring in schedules:
        runs = runs_of(services, recurring.recurring_run_id)
        slots = Counter(r.scheduled_at for r in runs)
        assert all(count == 1 for count in slots.values()), slots
        expected = [recurring.created_at + timedelta(seconds=5 * k) for k in range(1, 10)]
        assert sorted(slots) == expected
        state = state_of(services, recurring.recurring_run_id)
        assert state["last_index"] == len(expected)
        indexes = sorted(int(r.display_name.split("-")[-2]) for r in runs)
        assert indexes == list(range(1, len(expected) + 1))
    created = sum(
        loop.metrics.created._value.get()  # type: ignore[attr-defined]
        for loop in loops
    )
    assert created == 12 * 9


def test_a_caller_chosen_run_id_is_created_once(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    source = PipelineSource(pipeline_spec=compiled_spec("minimal"))
    run = services.runs.create(RunInput(display_name="mine", source=source, run_id="fixed-id-1"))
    assert run.run_id == "fixed-id-1"
    with pytest.raises(AlreadyExists) as excinfo:
        services.runs.create(RunInput(display_name="again", source=source, run_id="fixed-id-1"))
    assert excinfo.value.message.startswith("run_id: ")
    assert services.runs.get("fixed-id-1").display_name == "mine"


# --- max concurrency, enable / disable -----------------------------------------------------


def test_max_concurrency_holds_slots_until_runs_finish(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    recurring = schedule(
        services, compiled_spec("minimal"), "capped", interval=10, max_concurrency=2
    )
    loop = loop_for(services, clock, hold_recheck=timedelta(seconds=1))
    now = clock.advance(45)
    assert loop.tick(now).created == 2  # 4 slots are due; 2 may be active
    state = state_of(services, recurring.recurring_run_id)
    assert state["next_fire_at"] == now + timedelta(seconds=1)
    clock.advance(2)
    assert loop.tick(clock.now).created == 0  # both runs still pending: held
    first = runs_of(services, recurring.recurring_run_id)[0]
    services.runs.terminate(first.run_id)
    clock.advance(2)
    assert loop.tick(clock.now).created == 1
    runs = runs_of(services, recurring.recurring_run_id)
    # The held slot fires first: catch-up order is kept.
    assert [r.scheduled_at for r in runs] == [
        recurring.created_at + timedelta(seconds=s) for s in (10, 20, 30)
    ]


def test_disabled_slots_are_skipped_and_re_enabling_starts_from_now(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    recurring = schedule(services, compiled_spec("minimal"), "toggled", interval=10)
    loop = loop_for(services, clock)
    clock.advance(21)
    assert loop.tick(clock.now).created == 2
    services.recurring_runs.disable(recurring.recurring_run_id)
    clock.advance(60)
    assert loop.tick(clock.now).due_schedules == 0
    enabled_at = clock.now
    services.recurring_runs.enable(recurring.recurring_run_id)
    assert state_of(services, recurring.recurring_run_id)["fire_after"] >= enabled_at
    clock.advance(20)
    assert loop.tick(clock.now).created == 2
    slots = [r.scheduled_at for r in runs_of(services, recurring.recurring_run_id)]
    start = recurring.created_at
    assert slots == [start + timedelta(seconds=s) for s in (10, 20, 90, 100)]
    assert services.recurring_runs.get(recurring.recurring_run_id).updated_at > start


def test_archiving_the_experiment_stops_its_schedules(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    experiment = services.experiments.create("scheduled exp", None, None)
    recurring = schedule(
        services,
        compiled_spec("minimal"),
        "archived",
        interval=10,
        experiment_id=experiment.experiment_id,
    )
    services.experiments.archive(experiment.experiment_id)
    loop = loop_for(services, clock)
    clock.advance(30)
    assert loop.tick(clock.now).created == 0
    assert runs_of(services, recurring.recurring_run_id) == []


# --- the thread ----------------------------------------------------------------------------


def test_the_loop_thread_wakes_for_a_new_schedule_and_stops_cleanly(
    services: Services, compiled_spec: SpecLoader
) -> None:
    real_clock = services.runs.ctx.clock
    loop = loop_for(services, real_clock, max_sleep=600)
    services.recurring_runs.on_schedule_change(loop.wake)
    loop.start()
    try:
        time.sleep(0.2)  # asleep now, for up to max_sleep: only a wake can help
        recurring = schedule(services, compiled_spec("minimal"), "live", interval=1)
        deadline = time.monotonic() + 20
        while (
            time.monotonic() < deadline and len(runs_of(services, recurring.recurring_run_id)) < 2
        ):
            time.sleep(0.1)
        runs = runs_of(services, recurring.recurring_run_id)
        assert len(runs) >= 2
        for run in runs:
            assert run.scheduled_at is not None
            assert timedelta(0) <= run.created_at - run.scheduled_at < timedelta(seconds=5)
    finally:
        loop.stop(timeout=10)
    assert loop._thread is None
    count = len(runs_of(services, recurring.recurring_run_id))
    time.sleep(1.5)
    assert len(runs_of(services, recurring.recurring_run_id)) == count  # stopped: no more


def test_a_schedule_disabled_between_plan_and_insert_fires_nothing(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    recurring = schedule(services, compiled_spec("minimal"), "late disable", interval=10)
    loop = loop_for(services, clock)
    prepared = loop.prepare(clock.advance(25))
    assert len(prepared.slots) == 2
    services.recurring_runs.disable(recurring.recurring_run_id)
    result = loop.commit(prepared)
    assert result.created == 0
    assert runs_of(services, recurring.recurring_run_id) == []
    # The cursor is not moved either: re-enabling starts from then, as always.
    assert state_of(services, recurring.recurring_run_id)["last_index"] == 0


class RefusesOneSchedule:
    """A run creator whose runs of one schedule always fail to be created."""

    def __init__(self, services: Services, refused: str) -> None:
        self.services = services
        self.refused = refused

    def create_scheduled_runs(self, runs: Sequence[Any]) -> set[str]:
        if any(run.recurring_run_id == self.refused for run in runs):
            raise ValueError("this schedule's runs cannot be created")
        return self.services.runs.create_scheduled_runs(runs)


def test_one_failing_schedule_does_not_stop_the_others(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    spec = compiled_spec("minimal")
    bad = schedule(services, spec, "poison", interval=10)
    good = [schedule(services, spec, f"fine {i}", interval=10) for i in range(3)]
    assert services.schedules is not None
    loop = ScheduleLoop(
        services.schedules, RefusesOneSchedule(services, bad.recurring_run_id), clock=clock
    )
    now = clock.advance(21)
    result = loop.tick(now)
    assert result.created == 6
    for recurring in good:
        assert len(runs_of(services, recurring.recurring_run_id)) == 2
    assert runs_of(services, bad.recurring_run_id) == []
    # The failing schedule keeps its cursor and is looked at again later, not at once.
    state = state_of(services, bad.recurring_run_id)
    assert (state["fire_after"], state["last_index"]) == (bad.created_at, 0)
    assert state["next_fire_at"] > now + timedelta(seconds=20)
    assert loop.tick(clock.advance(1)).due_schedules == 0
    # Once it can be created again, every missed slot fires.
    fixed = loop_for(services, clock)
    assert fixed.tick(clock.advance(40)).created == 6 + 3 * 4
    assert len(runs_of(services, bad.recurring_run_id)) == 6
