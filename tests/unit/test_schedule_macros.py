"""KFP's parameter macros in scheduled runs: [[ScheduledTime]], [[CurrentTime]], [[Index]],
Go time layouts, and the SDK's {{$.pipeline_job_..._utc}} placeholders."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from scheduled_controller import go_format, substitute, substitute_parameters

SLOT = datetime(2026, 3, 8, 13, 4, 5, tzinfo=UTC)  # a Sunday
NOW = datetime(2026, 3, 8, 13, 4, 6, 750_000, tzinfo=UTC)


def sub(text: str) -> str:
    return substitute(text, scheduled_at=SLOT, created_at=NOW, index=3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[ScheduledTime]]", "20260308130405"),
        ("[[CurrentTime]]", "20260308130406"),
        ("[[Index]]", "3"),
        ("run-[[Index]]-of-[[ScheduledTime]]", "run-3-of-20260308130405"),
        ("[[ScheduledTime.2006-01-02]]", "2026-03-08"),
        ("[[ScheduledTime.15-04-05]]", "13-04-05"),
        ("[[CurrentTime.15:04:05]]", "13:04:06"),
        ("[[ScheduledTime.2006-01-02T15:04:05Z07:00]]", "2026-03-08T13:04:05Z"),
        ("[[ScheduledTime.Jan _2 03:04PM]]", "Mar  8 01:04PM"),
        ("[[ScheduledTime.Monday January 2 2006 MST -0700]]", "Sunday March 8 2026 UTC +0000"),
        ("[[ScheduledTime.Mon 06/1/2 3pm]]", "Sun 26/3/8 1pm"),
        ("[[ScheduledTime.20060102150405.000]]", "20260308130405.000"),
        ("[[ScheduledTime.15:04:05.999]]", "13:04:05"),
        ("[[ScheduledTime.002]]", "067"),
        ("[[Unknown]] and [[ScheduledTimeX]] stay", "[[Unknown]] and [[ScheduledTimeX]] stay"),
        ("no macro", "no macro"),
        ("{{$.pipeline_job_schedule_time_utc}}", "2026-03-08T13:04:05Z"),
        ("{{$.pipeline_job_create_time_utc}}", "2026-03-08T13:04:06Z"),
    ],
)
def test_macros_as_kfp_formats_them(text: str, expected: str) -> None:
    assert sub(text) == expected


def test_times_are_formatted_in_utc_whatever_zone_they_come_in() -> None:
    local = SLOT.astimezone(ZoneInfo("Asia/Tokyo"))
    assert go_format(local, "15:04") == "13:04"
    assert (
        substitute("[[ScheduledTime]]", scheduled_at=local, created_at=NOW, index=1)
        == "20260308130405"
    )


def test_parameters_are_substituted_in_strings_only_and_nested() -> None:
    parameters = {
        "date": "[[ScheduledTime.2006-01-02]]",
        "count": 4,
        "flag": True,
        "paths": ["a/[[Index]]", "b"],
        "config": {"when": "[[ScheduledTime.15]]", "n": 1.5},
    }
    result = substitute_parameters(parameters, scheduled_at=SLOT, created_at=NOW, index=9)
    assert result == {
        "date": "2026-03-08",
        "count": 4,
        "flag": True,
        "paths": ["a/9", "b"],
        "config": {"when": "13", "n": 1.5},
    }
    assert parameters["date"] == "[[ScheduledTime.2006-01-02]]"  # the template is untouched
