from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api_server.services.recurring_runs import (
    Trigger,
    check_cron,
    check_max_concurrency,
    check_mode,
    check_trigger,
)
from domain.errors import InvalidArgument


@pytest.mark.parametrize(
    "expression", ["0 0 9 ? * 2-6", "*/30 * * * * *", "0 12 * * 1-5", " 0  0 * * * "]
)
def test_cron_accepts_six_field_seconds_first_and_five_field(expression: str) -> None:
    assert check_cron(expression) == " ".join(expression.split())


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "expected 5 or 6 fields"),
        ("* * *", "got 3"),
        ("99 * * * *", "is not valid"),
        ("a b c d e", "is not valid"),
    ],
)
def test_bad_cron_is_refused(expression: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        check_cron(expression)
    assert message in excinfo.value.message
    assert excinfo.value.message.startswith("trigger.cron_schedule.cron")


def test_periodic_trigger_with_window() -> None:
    values = check_trigger(
        Trigger(
            interval_seconds="3600",
            start_time="2026-01-01T00:00:00Z",
            end_time="2026-02-01T00:00:00Z",
        )
    )
    assert values["interval_seconds"] == 3600
    assert values["cron"] is None
    assert values["start_time"] == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        (None, "one of cron_schedule.cron or periodic_schedule.interval_second is required"),
        (Trigger(cron="0 * * * *", interval_seconds=60), "not both"),
        (Trigger(interval_seconds=-5), "must be positive"),
        (Trigger(interval_seconds="soon"), "must be an integer"),
        (
            Trigger(
                cron="0 * * * *", start_time="2026-02-01T00:00:00Z", end_time="2026-01-01T00:00:00Z"
            ),
            "end_time: must be after start_time",
        ),
        (Trigger(cron="0 * * * *", start_time="yesterday"), "trigger.cron_schedule.start_time"),
    ],
)
def test_bad_triggers_are_refused(trigger: Trigger | None, message: str) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        check_trigger(trigger)
    assert message in excinfo.value.message


def test_max_concurrency_and_mode() -> None:
    assert check_max_concurrency(None) == 1
    assert check_max_concurrency("10") == 10
    for bad in (11, "-1", "many"):
        with pytest.raises(InvalidArgument, match="max_concurrency"):
            check_max_concurrency(bad)
    assert check_mode(None) == "ENABLED"
    assert check_mode("DISABLE") == "DISABLED"
    with pytest.raises(InvalidArgument, match="mode"):
        check_mode("SOMETIMES")
