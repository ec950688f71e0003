from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from api_server.storage.types import EpochMicros, JSONText, json_text, micros
from domain.timestamps import from_micros, to_micros


def test_micros_round_trip_keeps_microseconds_and_utc() -> None:
    moment = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
    assert from_micros(to_micros(moment)) == moment
    assert from_micros(to_micros(moment)).tzinfo is UTC


def test_other_offsets_and_naive_values_are_normalised_to_utc() -> None:
    plus_two = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_micros(plus_two) == to_micros(datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    assert to_micros(datetime(1970, 1, 1)) == 0
    assert to_micros(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)) == -1_000_000


def test_type_decorators_bind_and_load() -> None:
    epoch_micros = EpochMicros()
    moment = datetime(2026, 5, 6, tzinfo=UTC)
    stored = epoch_micros.process_bind_param(moment, None)  # type: ignore[arg-type]
    assert isinstance(stored, int)
    assert epoch_micros.process_result_value(stored, None) == moment  # type: ignore[arg-type]
    text = JSONText()
    raw = text.process_bind_param({"b": 1, "a": [1, 2]}, None)  # type: ignore[arg-type]
    assert raw == '{"a":[1,2],"b":1}'
    assert text.process_result_value(raw, None) == {"a": [1, 2], "b": 1}  # type: ignore[arg-type]
    assert text.process_bind_param(None, None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1, 2.5, None, True, False], "c": {"z": "é✓", "y": '"quoted"\n'}},
        {"nan": float("nan"), "inf": float("inf"), "neg": float("-inf"), "big": 10**30},
        [{"attempt": 1, "pid": 20000}, [], {}],
        "a string",
        3.25,
        {"1": "string key"},
    ],
)
def test_json_text_is_the_compact_sorted_dump(value: object) -> None:
    """The stored form of a JSON column is exactly ``json.dumps`` with compact separators
    and sorted keys, whichever encoder makes it."""
    assert json_text(value) == json.dumps(value, separators=(",", ":"), sort_keys=True)
    assert JSONText().process_bind_param(value, None) == json_text(value)  # type: ignore[arg-type]


def test_json_text_refuses_what_json_cannot_hold() -> None:
    assert json_text(None) is None
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_text({"when": datetime(2026, 1, 1, tzinfo=UTC)})
    assert json_text({"when": "ok"}) == '{"when":"ok"}'  # the encoder is still usable


def test_micros_is_the_stored_form_of_times() -> None:
    moment = datetime(2026, 5, 6, 7, 8, 9, 10, tzinfo=UTC)
    assert micros(moment) == to_micros(moment)
    assert micros(123) == 123
    assert micros(None) is None
