from __future__ import annotations

from datetime import timedelta

import pytest

from cache_webhook import parse_max_staleness
from domain.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P30D", timedelta(days=30)),
        ("PT1H", timedelta(hours=1)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT90S", timedelta(seconds=90)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P2W", timedelta(days=14)),
        ("P1Y2M", timedelta(days=365 + 60)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("p1d", timedelta(days=1)),
        (" P1D ", timedelta(days=1)),
        ("P0D", timedelta(0)),
    ],
)
def test_iso_durations(text: str, expected: timedelta) -> None:
    assert parse_max_staleness(text) == expected


@pytest.mark.parametrize("text", [None, "", "   "])
def test_unset_means_any_age(text: str | None) -> None:
    assert parse_max_staleness(text) is None


@pytest.mark.parametrize(
    "text", ["P", "PT", "P1DT", "30D", "P-1D", "-P1D", "P1H", "PT1D", "P1D2H", "1 day", "P1.D"]
)
def test_anything_else_is_refused_with_the_value(text: str) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        parse_max_staleness(text)
    assert repr(text) in excinfo.value.message
    assert "ISO 8601 duration" in excinfo.value.message


def test_a_duration_too_long_for_a_timedelta_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="too large"):
        parse_max_staleness("P99999999999D")
