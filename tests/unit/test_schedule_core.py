"""The schedule core with a controlled clock: every instant below is chosen by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from scheduled_controller import (
    Schedule,
    Trigger,
    TriggerError,
    check_trigger,
    initial_cursor,
    next_slot,
    plan,
    resume_cursor,
    scheduled_run_id,
    scheduled_run_name,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(*args: int, zone: ZoneInfo | None = None) -> datetime:
    if zone is None:
        return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
    return datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def periodic(seconds: int, **kwargs: object) -> Schedule:
    trigger_keys = {"start_time", "end_time"}
    trigger = Trigger(
        interval_seconds=seconds, **{k: v for k, v in kwargs.items() if k in trigger_keys}
    )  # type: ignore[arg-type]
    rest = {k: v for k, v in kwargs.items() if k not in trigger_keys}
    rest.setdefault("max_concurrency", 10)
    return Schedule(trigger=trigger, created_at=T0, **rest)  # type: ignore[arg-type]


def cron(expression: str, created_at: datetime = T0, **kwargs: object) -> Schedule:
    kwargs.setdefault("max_concurrency", 10)
    return Schedule(trigger=Trigger(cron=expression), created_at=created_at, **kwargs)  # type: ignore[arg-type]


def fire_everything(
    schedule: Schedule, until: datetime, zone: ZoneInfo = ZoneInfo("UTC")
) -> list[datetime]:
    """Drive the core the way the loop does until ``until``, returning every fired slot."""
    cursor = initial_cursor(schedule)
    fired: list[datetime] = []
    for _ in range(100_000):
        decision = plan(schedule, fire_after=cursor, now=until, zone=zone, max_slots=7)
        fired.extend(decision.due)
        cursor = decision.fire_after
        if not decision.due:
            return fired
    raise AssertionError("the core never settled")


# --- periodic -----------------------------------------------------------------------------


def test_periodic_first_slot_is_one_interval_after_creation() -> None:
    schedule = periodic(60)
    assert next_slot(schedule, initial_cursor(schedule)) == T0 + timedelta(seconds=60)
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(seconds=59))
    assert decision.due == ()
    assert decision.next_wake == T0 + timedelta(seconds=60)


def test_periodic_catch_up_after_downtime_fires_every_slot_oldest_first() -> None:
    schedule = periodic(2)
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(seconds=9.5))
    assert decision.due == tuple(T0 + timedelta(seconds=s) for s in (2, 4, 6, 8))
    assert decision.fire_after == T0 + timedelta(seconds=8)
    assert decision.next_wake == T0 + timedelta(seconds=10)
    # Planned again at the same moment (a restart before anything new is due): nothing.
    again = plan(schedule, fire_after=decision.fire_after, now=T0 + timedelta(seconds=9.5))
    assert again.due == ()


def test_periodic_slots_stay_on_the_start_time_grid() -> None:
    start = T0 + timedelta(seconds=7)
    schedule = periodic(10, start_time=start)
    assert initial_cursor(schedule) == start
    decision = plan(schedule, fire_after=start, now=start + timedelta(seconds=35))
    assert decision.due == tuple(start + timedelta(seconds=s) for s in (10, 20, 30))
    assert decision.next_wake == start + timedelta(seconds=40)


def test_a_start_time_in_the_future_holds_everything_until_then() -> None:
    start = T0 + timedelta(hours=1)
    schedule = periodic(60, start_time=start)
    decision = plan(schedule, fire_after=initial_cursor(schedule), now=T0 + timedelta(minutes=30))
    assert decision.due == ()
    assert decision.next_wake == start + timedelta(seconds=60)


def test_no_catchup_fires_only_the_latest_missed_slot() -> None:
    schedule = periodic(2, no_catchup=True)
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(seconds=9.5))
    assert decision.due == (T0 + timedelta(seconds=8),)
    assert decision.fire_after == T0 + timedelta(seconds=8)
    assert decision.next_wake == T0 + timedelta(seconds=10)


def test_no_catchup_with_nothing_missed_waits_for_the_next_slot() -> None:
    schedule = periodic(60, no_catchup=True)
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(seconds=30))
    assert decision.due == ()
    assert decision.next_wake == T0 + timedelta(seconds=60)


def test_end_time_is_the_last_possible_slot() -> None:
    schedule = periodic(10, end_time=T0 + timedelta(seconds=30))
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(hours=1))
    assert decision.due == tuple(T0 + timedelta(seconds=s) for s in (10, 20, 30))
    assert decision.next_wake is None  # ended: the scheduler never looks again
    assert next_slot(schedule, decision.fire_after) is None


def test_no_catchup_after_the_end_time_fires_the_last_slot_before_it() -> None:
    schedule = periodic(10, end_time=T0 + timedelta(seconds=35), no_catchup=True)
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(hours=1))
    assert decision.due == (T0 + timedelta(seconds=30),)
    assert decision.next_wake is None


def test_a_long_catch_up_fires_every_slot_exactly_once_in_batches() -> None:
    schedule = periodic(1)
    fired = fire_everything(schedule, T0 + timedelta(hours=1))
    assert fired == [T0 + timedelta(seconds=s) for s in range(1, 3601)]


def test_a_batch_limit_asks_to_be_woken_at_once() -> None:
    schedule = periodic(1)
    now = T0 + timedelta(seconds=50)
    decision = plan(schedule, fire_after=T0, now=now, max_slots=5)
    assert len(decision.due) == 5
    assert decision.next_wake == now
    assert not decision.held


# --- max concurrency ----------------------------------------------------------------------


def test_max_concurrency_reached_holds_the_slot() -> None:
    schedule = periodic(2, max_concurrency=2)
    now = T0 + timedelta(seconds=5)
    decision = plan(schedule, fire_after=T0, now=now, active_runs=2, hold_recheck=timedelta(3))
    assert decision.due == ()
    assert decision.held
    assert decision.fire_after == T0  # the held slot is not skipped
    assert decision.next_wake == now + timedelta(3)
    # Once a run finished, the held slot fires first.
    later = plan(schedule, fire_after=T0, now=now, active_runs=1)
    assert later.due == (T0 + timedelta(seconds=2),)
    assert later.held


def test_max_concurrency_limits_a_catch_up_to_the_free_places() -> None:
    schedule = periodic(1, max_concurrency=3)
    now = T0 + timedelta(seconds=10)
    decision = plan(schedule, fire_after=T0, now=now, active_runs=1)
    assert decision.due == (T0 + timedelta(seconds=1), T0 + timedelta(seconds=2))
    assert decision.held
    assert decision.next_wake is not None and decision.next_wake > now


def test_no_catchup_held_then_fires_the_latest_slot() -> None:
    schedule = periodic(2, no_catchup=True, max_concurrency=1)
    held = plan(schedule, fire_after=T0, now=T0 + timedelta(seconds=3), active_runs=1)
    assert held.due == () and held.held
    freed = plan(schedule, fire_after=T0, now=T0 + timedelta(seconds=7), active_runs=0)
    assert freed.due == (T0 + timedelta(seconds=6),)


# --- enable / disable ---------------------------------------------------------------------


def test_a_disabled_schedule_fires_nothing_and_never_wakes() -> None:
    schedule = periodic(2, enabled=False)
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(minutes=5))
    assert decision.due == ()
    assert decision.next_wake is None
    assert decision.fire_after == T0


def test_re_enabling_skips_the_slots_of_the_disabled_period() -> None:
    schedule = periodic(10)
    # Fired up to 20 s, disabled, enabled again at 95 s.
    cursor = resume_cursor(T0 + timedelta(seconds=20), T0 + timedelta(seconds=95))
    assert cursor == T0 + timedelta(seconds=95)
    decision = plan(schedule, fire_after=cursor, now=T0 + timedelta(seconds=95))
    assert decision.due == ()
    assert decision.next_wake == T0 + timedelta(seconds=100)  # still on the grid
    after = plan(schedule, fire_after=cursor, now=T0 + timedelta(seconds=112))
    assert after.due == (T0 + timedelta(seconds=100), T0 + timedelta(seconds=110))


def test_resume_never_moves_the_cursor_back() -> None:
    assert resume_cursor(T0 + timedelta(hours=2), T0) == T0 + timedelta(hours=2)


# --- cron ---------------------------------------------------------------------------------


def test_cron_seconds_first_six_fields_as_kfp() -> None:
    schedule = cron("*/15 * * * * *")
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(seconds=50))
    assert decision.due == tuple(T0 + timedelta(seconds=s) for s in (15, 30, 45))
    assert decision.next_wake == T0 + timedelta(seconds=60)


def test_cron_five_fields_is_minute_first() -> None:
    schedule = cron("*/20 * * * *")
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(hours=1))
    assert decision.due == tuple(T0 + timedelta(minutes=m) for m in (20, 40, 60))


def test_cron_weekdays_at_nine_with_a_question_mark() -> None:
    schedule = cron("0 0 9 ? * 2-6")  # KFP's form: Tuesday to Saturday
    fired = fire_everything(schedule, at(2026, 1, 11))  # Thursday 1 Jan .. Sunday 11 Jan
    assert [slot.day for slot in fired] == [1, 2, 3, 6, 7, 8, 9, 10]
    assert {slot.hour for slot in fired} == {9}


def test_cron_no_catchup_after_a_week_down_fires_the_latest_only() -> None:
    schedule = cron("0 0 * * * *", no_catchup=True)
    now = T0 + timedelta(days=7, minutes=30)
    decision = plan(schedule, fire_after=T0, now=now)
    assert decision.due == (T0 + timedelta(days=7),)
    assert decision.next_wake == T0 + timedelta(days=7, hours=1)


def test_cron_slot_exactly_now_is_due() -> None:
    schedule = cron("0 * * * *")
    decision = plan(schedule, fire_after=T0, now=T0 + timedelta(hours=1))
    assert decision.due == (T0 + timedelta(hours=1),)
    no_catchup = cron("0 * * * *", no_catchup=True)
    assert plan(no_catchup, fire_after=T0, now=T0 + timedelta(hours=1)).due == (
        T0 + timedelta(hours=1),
    )


def test_cron_in_a_zone_fires_at_local_wall_time() -> None:
    schedule = cron("0 0 9 * * *")
    fired = fire_everything(schedule, at(2026, 1, 3), zone=BERLIN)
    assert fired == [at(2026, 1, 1, 9, zone=BERLIN), at(2026, 1, 2, 9, zone=BERLIN)]
    assert fired[0] == at(2026, 1, 1, 8)  # CET is UTC+1


# --- DST ----------------------------------------------------------------------------------


def test_spring_forward_daily_job_in_the_gap_fires_once_when_the_gap_ends() -> None:
    # 2026-03-08 02:00 EST -> 03:00 EDT in New York: 02:30 does not exist that day.
    schedule = cron("0 30 2 * * *", created_at=at(2026, 3, 6))
    fired = fire_everything(schedule, at(2026, 3, 10), zone=NEW_YORK)
    local = [slot.astimezone(NEW_YORK) for slot in fired]
    assert [t.strftime("%m-%d %H:%M %Z") for t in local] == [
        "03-06 02:30 EST",
        "03-07 02:30 EST",
        "03-08 03:00 EDT",
        "03-09 02:30 EDT",
    ]


def test_spring_forward_slots_inside_the_gap_collapse_into_one() -> None:
    schedule = cron("*/30 * * * *", created_at=at(2026, 3, 8, 5))
    fired = fire_everything(schedule, at(2026, 3, 8, 8, 30), zone=NEW_YORK)
    local = [slot.astimezone(NEW_YORK).strftime("%H:%M %Z") for slot in fired]
    assert local == [
        "00:30 EST",
        "01:00 EST",
        "01:30 EST",
        "03:00 EDT",
        "03:30 EDT",
        "04:00 EDT",
        "04:30 EDT",
    ]
    assert fired == sorted(set(fired))  # strictly increasing: nothing fires twice


def test_fall_back_repeated_wall_times_fire_once() -> None:
    # 2026-11-01 02:00 EDT -> 01:00 EST: 01:00-01:59 happens twice.
    schedule = cron("0 30 1 * * *", created_at=at(2026, 10, 31))
    fired = fire_everything(schedule, at(2026, 11, 3), zone=NEW_YORK)
    local = [slot.astimezone(NEW_YORK).strftime("%m-%d %H:%M %Z") for slot in fired]
    assert local == ["10-31 01:30 EDT", "11-01 01:30 EDT", "11-02 01:30 EST"]


def test_fall_back_hourly_has_no_duplicates_and_keeps_going() -> None:
    schedule = cron("0 * * * *", created_at=at(2026, 11, 1, 4))
    fired = fire_everything(schedule, at(2026, 11, 1, 9), zone=NEW_YORK)
    local = [slot.astimezone(NEW_YORK).strftime("%H:%M %Z") for slot in fired]
    assert local == ["01:00 EDT", "02:00 EST", "03:00 EST", "04:00 EST"]
    # Planned from inside the repeated hour, the first pass's wall times are not redone.
    inside = at(2026, 11, 1, 6, 15)  # 01:15 EST, the second 01:15
    decision = plan(schedule, fire_after=at(2026, 11, 1, 5), now=inside, zone=NEW_YORK)
    assert decision.due == ()
    assert decision.next_wake == at(2026, 11, 1, 7)  # 02:00 EST


def test_periodic_ignores_dst() -> None:
    schedule = Schedule(
        trigger=Trigger(interval_seconds=3600), created_at=at(2026, 3, 8, 5), max_concurrency=10
    )
    fired = fire_everything(schedule, at(2026, 3, 8, 10), zone=NEW_YORK)
    assert [b - a for a, b in pairwise(fired)] == [timedelta(hours=1)] * 4


def test_no_catchup_latest_slot_across_a_gap() -> None:
    schedule = cron("0 30 2 * * *", created_at=at(2026, 3, 7), no_catchup=True)
    now = at(2026, 3, 8, 12)
    decision = plan(schedule, fire_after=at(2026, 3, 7, 12), now=now, zone=NEW_YORK)
    assert [d.astimezone(NEW_YORK).strftime("%d %H:%M") for d in decision.due] == ["08 03:00"]


# --- triggers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "field", "problem"),
    [
        (Trigger(), "trigger", "is required"),
        (Trigger(cron="* * * * *", interval_seconds=5), "trigger", "not both"),
        (Trigger(cron="* * *"), "cron", "expected 5 or 6 fields"),
        (Trigger(cron="0 0 25 * * *"), "cron", "is not valid"),
        (Trigger(interval_seconds=-3), "interval_second", "positive"),
        (Trigger(interval_seconds=5, start_time=T0, end_time=T0), "end_time", "after start_time"),
    ],
)
def test_bad_triggers_name_the_field(trigger: Trigger, field: str, problem: str) -> None:
    with pytest.raises(TriggerError) as excinfo:
        check_trigger(trigger)
    assert excinfo.value.field == field
    assert problem in excinfo.value.problem


def test_check_trigger_normalises_the_cron() -> None:
    assert check_trigger(Trigger(cron=" 0  0 * * * * ")).cron == "0 0 * * * *"


# --- ids and names ------------------------------------------------------------------------


def test_a_slot_has_one_id_and_one_name() -> None:
    slot = T0 + timedelta(minutes=1)
    assert scheduled_run_id("rr-1", slot) == scheduled_run_id("rr-1", slot.astimezone(NEW_YORK))
    assert scheduled_run_id("rr-1", slot) != scheduled_run_id("rr-2", slot)
    assert scheduled_run_id("rr-1", slot) != scheduled_run_id("rr-1", slot + timedelta(seconds=1))
    name = scheduled_run_name("nightly", "rr-1", 7, slot)
    assert name == scheduled_run_name("nightly", "rr-1", 7, slot)
    prefix, index, digest = name.rsplit("-", 2)
    assert (prefix, index) == ("nightly", "7") and digest.isdigit()
    assert len(scheduled_run_name("x" * 300, "rr-1", 12345, slot)) == 255
