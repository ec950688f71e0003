from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from api_server.storage.types import EpochMicros, JSONText
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
    micros = EpochMicros()
    moment = datetime(2026, 5, 6, tzinfo=UTC)
    stored = micros.process_bind_param(moment, None)  # type: ignore[arg-type]
    assert isinstance(stored, int)
    assert micros.process_result_value(stored, None) == moment  # type: ignore[arg-type]
    text = JSONText()
    raw = text.process_bind_param({"b": 1, "a": [1, 2]}, None)  # type: ignore[arg-type]
    assert raw == '{"a":[1,2],"b":1}'
    assert text.process_result_value(raw, None) == {"a": [1, 2], "b": 1}  # type: ignore[arg-type]
    assert text.process_bind_param(None, None) is None  # type: ignore[arg-type]
