"""Parsing of List parameters: filter, sort_by, page_size and page tokens (no database)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus

import pytest

from api_server.listing import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Cursor,
    Field,
    FieldKind,
    Op,
    Predicate,
    Sort,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_list_options,
    parse_page_size,
    parse_sort_by,
    query_fingerprint,
)
from domain.errors import InvalidArgument

RUNTIME_STATES = (
    "RUNTIME_STATE_UNSPECIFIED",
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "SKIPPED",
    "FAILED",
    "CANCELING",
    "CANCELED",
    "PAUSED",
)

FIELDS = {
    "display_name": Field(FieldKind.STRING, sortable=True),
    "description": Field(FieldKind.STRING),
    "created_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "size": Field(FieldKind.INT, sortable=True),
    "state": Field(FieldKind.ENUM, enum_names=RUNTIME_STATES),
    "archived": Field(FieldKind.BOOL),
}
DEFAULT_SORT = Sort("created_at", descending=False)
SECRET = b"unit-test-secret"


def one(predicate: dict[str, object]) -> Predicate:
    """Parse a filter holding only ``predicate`` and return its single Predicate."""
    result = parse_filter(json.dumps({"predicates": [predicate]}), FIELDS)
    assert len(result) == 1
    return result[0]


def error_of(raw: str) -> str:
    with pytest.raises(InvalidArgument) as info:
        parse_filter(raw, FIELDS)
    return info.value.message


def pred_error(predicate: dict[str, object]) -> str:
    return error_of(json.dumps({"predicates": [predicate]}))


# --- filter: basics -------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "   ", '{"predicates": []}', "{}", "null"])
def test_empty_filters_mean_no_predicates(raw: str | None) -> None:
    assert parse_filter(raw, FIELDS) == ()


OP_CASES = [
    ("EQUALS", 1, Op.EQUALS),
    ("NOT_EQUALS", 2, Op.NOT_EQUALS),
    ("GREATER_THAN", 3, Op.GREATER_THAN),
    ("GREATER_THAN_EQUALS", 5, Op.GREATER_THAN_EQUALS),
    ("LESS_THAN", 6, Op.LESS_THAN),
    ("LESS_THAN_EQUALS", 7, Op.LESS_THAN_EQUALS),
    ("IS_SUBSTRING", 9, Op.IS_SUBSTRING),
]


@pytest.mark.parametrize(("name", "number", "op"), OP_CASES)
def test_every_scalar_operation_by_name_number_and_numeric_string(
    name: str, number: int, op: Op
) -> None:
    for operation in (name, number, str(number), name.lower()):
        parsed = one({"key": "display_name", "operation": operation, "string_value": "x"})
        assert parsed == Predicate("display_name", op, "x")


def test_in_by_name_and_number() -> None:
    for operation in ("IN", 8, "8"):
        parsed = one(
            {"key": "display_name", "operation": operation, "stringValues": {"values": ["a", "b"]}}
        )
        assert parsed == Predicate("display_name", Op.IN, ("a", "b"))


def test_sdk_style_filter() -> None:
    raw = '{"predicates": [{"operation": 1, "key": "display_name", "stringValue": "my exp"}]}'
    assert parse_filter(raw, FIELDS) == (Predicate("display_name", Op.EQUALS, "my exp"),)


def test_several_predicates_keep_order() -> None:
    raw = json.dumps(
        {
            "predicates": [
                {"key": "size", "operation": "GREATER_THAN", "int_value": 3},
                {"key": "display_name", "operation": "IS_SUBSTRING", "string_value": "ab"},
            ]
        }
    )
    assert parse_filter(raw, FIELDS) == (
        Predicate("size", Op.GREATER_THAN, 3),
        Predicate("display_name", Op.IS_SUBSTRING, "ab"),
    )


def test_percent_encoded_filter_is_tolerated() -> None:
    document = {"predicates": [{"operation": 1, "key": "display_name", "stringValue": "a b+c"}]}
    text = json.dumps(document)
    expected = (Predicate("display_name", Op.EQUALS, "a b+c"),)
    assert parse_filter(quote_plus(text), FIELDS) == expected
    assert parse_filter(quote(text), FIELDS) == expected


# --- filter: value fields -------------------------------------------------------------------


@pytest.mark.parametrize("value_key", ["string_value", "stringValue"])
def test_string_value_spellings(value_key: str) -> None:
    parsed = one({"key": "display_name", "operation": "EQUALS", value_key: "x"})
    assert parsed == Predicate("display_name", Op.EQUALS, "x")


@pytest.mark.parametrize(
    ("value_key", "raw_value"),
    [
        ("int_value", 42),
        ("intValue", 42),
        ("int_value", "42"),
        ("long_value", "42"),
        ("longValue", "42"),
        ("long_value", 42),
        ("longValue", " +42 "),
    ],
)
def test_int_value_spellings(value_key: str, raw_value: object) -> None:
    parsed = one({"key": "size", "operation": "EQUALS", value_key: raw_value})
    assert parsed == Predicate("size", Op.EQUALS, 42)


def test_long_value_holds_64_bit_numbers() -> None:
    parsed = one({"key": "size", "operation": "LESS_THAN", "long_value": str(2**40)})
    assert parsed.value == 2**40


def test_int_value_is_32_bit() -> None:
    assert "out of range" in pred_error({"key": "size", "operation": 1, "int_value": 2**31})


@pytest.mark.parametrize(
    ("value_key", "raw_value"),
    [
        ("int_values", {"values": [1, 2, 3]}),
        ("intValues", {"values": [1, "2", 3]}),
        ("long_values", {"values": ["1", "2", "3"]}),
        ("longValues", {"values": [1, 2, 3]}),
        ("intValues", [1, 2, 3]),
    ],
)
def test_int_lists(value_key: str, raw_value: object) -> None:
    parsed = one({"key": "size", "operation": "IN", value_key: raw_value})
    assert parsed == Predicate("size", Op.IN, (1, 2, 3))


def test_string_values_snake_case_and_empty_list() -> None:
    parsed = one({"key": "display_name", "operation": 8, "string_values": {"values": ["q"]}})
    assert parsed.value == ("q",)
    empty = one({"key": "display_name", "operation": 8, "string_values": {}})
    assert empty.value == ()


def test_null_value_fields_count_as_absent() -> None:
    parsed = one({"key": "size", "operation": 1, "int_value": None, "long_value": "7"})
    assert parsed.value == 7


# --- filter: timestamps ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.5Z", datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        ("2026-01-02T03:04:05.123456789Z", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-01T22:34:05-04:30", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02t03:04:05z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps(text: str, expected: datetime) -> None:
    for value_key in ("timestamp_value", "timestampValue"):
        parsed = one({"key": "created_at", "operation": "GREATER_THAN", value_key: text})
        assert parsed.value == expected
        assert isinstance(parsed.value, datetime)
        assert parsed.value.utcoffset() is not None
        assert parsed.value.utcoffset().total_seconds() == 0


def test_timestamps_as_unix_seconds() -> None:
    expected = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    seconds = int(expected.timestamp())
    assert one({"key": "created_at", "operation": 1, "int_value": seconds}).value == expected
    assert one({"key": "created_at", "operation": 1, "longValue": str(seconds)}).value == expected
    listed = one({"key": "created_at", "operation": "IN", "long_values": {"values": [0, seconds]}})
    assert listed.value == (datetime(1970, 1, 1, tzinfo=UTC), expected)


@pytest.mark.parametrize(
    "text", ["2026-01-02", "2026-01-02T03:04:05", "yesterday", "2026-13-02T03:04:05Z", ""]
)
def test_bad_timestamps(text: str) -> None:
    message = pred_error({"key": "created_at", "operation": 1, "timestamp_value": text})
    assert "predicates[0]: timestamp_value" in message
    assert repr(text) in message


def test_timestamp_value_only_for_timestamp_keys() -> None:
    message = pred_error({"key": "size", "operation": 1, "timestamp_value": "2026-01-02T03:04:05Z"})
    assert "key 'size' does not accept timestamp_value (use int_value/long_value)" in message


# --- filter: enums and booleans -------------------------------------------------------------


def test_enum_by_name_and_number() -> None:
    assert one({"key": "state", "operation": 1, "string_value": "RUNNING"}).value == "RUNNING"
    assert one({"key": "state", "operation": 1, "int_value": 5}).value == "FAILED"
    assert one({"key": "state", "operation": 2, "longValue": "3"}).value == "SUCCEEDED"
    listed = one(
        {"key": "state", "operation": "IN", "intValues": {"values": [1, 2]}},
    )
    assert listed.value == ("PENDING", "RUNNING")
    named = one({"key": "state", "operation": "IN", "stringValues": {"values": ["PAUSED"]}})
    assert named.value == ("PAUSED",)


def test_unknown_enum_name_and_number() -> None:
    message = pred_error({"key": "state", "operation": 1, "string_value": "running"})
    assert "'running' is not a value of 'state'" in message
    assert "PENDING" in message
    message = pred_error({"key": "state", "operation": 1, "int_value": 9})
    assert "9 is not a value number of 'state'" in message
    message = pred_error({"key": "state", "operation": 1, "int_value": -1})
    assert "-1 is not a value number of 'state'" in message


def test_booleans() -> None:
    assert one({"key": "archived", "operation": 1, "string_value": "true"}).value is True
    assert one({"key": "archived", "operation": 1, "string_value": "FALSE"}).value is False
    assert one({"key": "archived", "operation": 2, "int_value": 1}).value is True
    assert one({"key": "archived", "operation": 1, "long_value": "0"}).value is False
    assert "needs 'true' or 'false', got 'yes'" in pred_error(
        {"key": "archived", "operation": 1, "string_value": "yes"}
    )
    assert "needs 0 or 1, got 2" in pred_error({"key": "archived", "operation": 1, "int_value": 2})


# --- filter: errors -------------------------------------------------------------------------


def test_not_json() -> None:
    assert error_of("{predicates").startswith("filter: not valid JSON: ")
    assert error_of("%7Bnope").startswith("filter: not valid JSON: ")


@pytest.mark.parametrize("raw", ["[]", '"x"', "3"])
def test_filter_must_be_an_object(raw: str) -> None:
    assert "filter: must be a JSON object" in error_of(raw)


def test_unknown_top_level_key() -> None:
    message = error_of('{"predicates": [], "colour": "red"}')
    assert "filter: unexpected field 'colour' (only 'predicates' is allowed)" in message


def test_predicates_must_be_a_list_of_objects() -> None:
    assert "'predicates' must be a list" in error_of('{"predicates": {}}')
    assert "filter: predicates[0]: must be a JSON object" in error_of('{"predicates": [3]}')


def test_unknown_predicate_key() -> None:
    message = pred_error({"key": "colour", "operation": 1, "string_value": "x"})
    assert message.startswith(
        "filter: unknown key 'colour' (allowed: archived, created_at, description, display_name,"
    )
    assert "predicates[0]" in message


def test_missing_key_and_operation() -> None:
    assert "predicates[0]: key is missing" in pred_error({"operation": 1, "string_value": "x"})
    assert "predicates[0]: operation is missing" in pred_error(
        {"key": "display_name", "string_value": "x"}
    )


@pytest.mark.parametrize("operation", ["BIGGER", 4, 0, "OPERATION_UNSPECIFIED", "10", True, 1.5])
def test_unknown_operations(operation: object) -> None:
    message = pred_error({"key": "display_name", "operation": operation, "string_value": "x"})
    assert f"predicates[0]: operation {operation!r} is not one of EQUALS, NOT_EQUALS," in message


def test_unknown_predicate_field() -> None:
    message = pred_error({"key": "size", "operation": 1, "int_value": 1, "float_value": 1.0})
    assert "predicates[0]: unknown field 'float_value'" in message


def test_index_of_failing_predicate_is_named() -> None:
    raw = json.dumps(
        {
            "predicates": [
                {"key": "size", "operation": 1, "int_value": 1},
                {"key": "state", "operation": 1},
            ]
        }
    )
    message = error_of(raw)
    assert (
        message
        == "filter: predicates[1]: key 'state' needs one of string_value/int_value/long_value"
    )


def test_missing_list_value_for_in() -> None:
    message = pred_error({"key": "size", "operation": "IN"})
    assert "key 'size' needs one of int_values/long_values" in message


def test_exactly_one_value_field() -> None:
    message = pred_error({"key": "size", "operation": 1, "int_value": 1, "long_value": "1"})
    assert "has 2 value fields (int_value, long_value); exactly one is allowed" in message
    message = pred_error({"key": "size", "operation": 1, "int_value": 1, "intValue": 1})
    assert "int_value is given twice" in message


def test_in_needs_a_list_and_others_need_a_scalar() -> None:
    message = pred_error({"key": "display_name", "operation": "IN", "string_value": "x"})
    assert "operation IN needs a list value (string_values), got string_value" in message
    message = pred_error(
        {"key": "display_name", "operation": "EQUALS", "string_values": {"values": ["x"]}}
    )
    assert "operation EQUALS needs a single value (string_value), got string_values" in message


def test_list_value_shape() -> None:
    message = pred_error({"key": "size", "operation": "IN", "int_values": 3})
    assert 'int_values must look like {"values": [...]}' in message
    message = pred_error({"key": "size", "operation": "IN", "int_values": {"items": [1]}})
    assert "found field 'items'" in message
    message = pred_error({"key": "size", "operation": "IN", "int_values": {"values": [1, "x"]}})
    assert "predicates[0]: int_values[1]: must be an integer, got 'x'" in message


def test_value_type_mismatches() -> None:
    assert "string_value: must be a string, got 3" in pred_error(
        {"key": "display_name", "operation": 1, "string_value": 3}
    )
    assert "int_value: must be an integer, got 'abc'" in pred_error(
        {"key": "size", "operation": 1, "int_value": "abc"}
    )
    assert "int_value: must be an integer, got True" in pred_error(
        {"key": "size", "operation": 1, "int_value": True}
    )
    message = pred_error({"key": "display_name", "operation": 1, "int_value": 3})
    assert "key 'display_name' does not accept int_value (use string_value)" in message
    message = pred_error({"key": "size", "operation": 1, "string_value": "3"})
    assert "key 'size' does not accept string_value (use int_value/long_value)" in message


@pytest.mark.parametrize("key", ["size", "created_at", "state", "archived"])
def test_is_substring_only_on_strings(key: str) -> None:
    message = pred_error({"key": key, "operation": "IS_SUBSTRING", "string_value": "1"})
    assert f"operation IS_SUBSTRING only works on text keys; {key!r} is" in message


@pytest.mark.parametrize("key", ["archived", "state"])
@pytest.mark.parametrize(
    "operation", ["GREATER_THAN", "GREATER_THAN_EQUALS", "LESS_THAN", "LESS_THAN_EQUALS"]
)
def test_no_ordering_on_bools_and_enums(key: str, operation: str) -> None:
    message = pred_error({"key": key, "operation": operation, "int_value": 1})
    assert f"operation {operation} does not apply to {key!r}" in message


def test_errors_are_invalid_argument_400() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter("nope", FIELDS)
    assert info.value.http_status == 400
    assert info.value.grpc_code == 3


# --- sort_by --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, DEFAULT_SORT),
        ("", DEFAULT_SORT),
        ("   ", DEFAULT_SORT),
        ("display_name", Sort("display_name", False)),
        ("display_name asc", Sort("display_name", False)),
        ("display_name desc", Sort("display_name", True)),
        ("  created_at   DESC ", Sort("created_at", True)),
        ("size Asc", Sort("size", False)),
    ],
)
def test_sort_by_forms(raw: str | None, expected: Sort) -> None:
    assert parse_sort_by(raw, FIELDS, DEFAULT_SORT) == expected


def test_sort_by_errors() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_sort_by("description", FIELDS, DEFAULT_SORT)
    assert info.value.message == (
        "sort_by: cannot sort on 'description' (sortable: created_at, display_name, size)"
    )
    with pytest.raises(InvalidArgument) as info:
        parse_sort_by("colour desc", FIELDS, DEFAULT_SORT)
    assert "sort_by: cannot sort on 'colour'" in info.value.message
    with pytest.raises(InvalidArgument) as info:
        parse_sort_by("size up", FIELDS, DEFAULT_SORT)
    assert info.value.message == "sort_by: direction must be 'asc' or 'desc', got 'up'"
    with pytest.raises(InvalidArgument) as info:
        parse_sort_by("size desc please", FIELDS, DEFAULT_SORT)
    assert "sort_by: expected 'field', 'field asc' or 'field desc'" in info.value.message


# --- page_size ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, DEFAULT_PAGE_SIZE),
        ("", DEFAULT_PAGE_SIZE),
        (0, DEFAULT_PAGE_SIZE),
        ("0", DEFAULT_PAGE_SIZE),
        (1, 1),
        ("10", 10),
        (" 7 ", 7),
        (200, 200),
        ("201", MAX_PAGE_SIZE),
        (10**9, MAX_PAGE_SIZE),
    ],
)
def test_page_size(raw: str | int | None, expected: int) -> None:
    assert parse_page_size(raw) == expected


def test_page_size_constants() -> None:
    assert (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) == (20, 200)


@pytest.mark.parametrize(
    ("raw", "shown"), [("abc", "'abc'"), ("-1", "'-1'"), (-5, "'-5'"), ("1.5", "'1.5'")]
)
def test_page_size_errors(raw: str | int, shown: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_page_size(raw)
    assert info.value.message == f"page_size: must be a non-negative integer, got {shown}"


# --- page tokens ----------------------------------------------------------------------------


CURSOR = Cursor(
    sort_key="created_at",
    descending=True,
    last_sort_value=1_767_323_045_123_456,
    last_id="0f6c2c1e-aaaa-4bbb-8ccc-123456789abc",
    query_fingerprint="abcdef0123456789",
    value_is_timestamp=True,
)


@pytest.mark.parametrize("value", ["név ✓", 17, -3, 2.5, True, False, None])
def test_token_round_trip(value: object) -> None:
    cursor = Cursor("display_name", False, value, "id-1", "fp")  # type: ignore[arg-type]
    token = encode_page_token(cursor, SECRET)
    assert decode_page_token(token, SECRET) == cursor


def test_token_round_trip_timestamp_and_shape() -> None:
    token = encode_page_token(CURSOR, SECRET)
    assert decode_page_token(token, SECRET) == CURSOR
    body, mac = token.split(".")
    assert "=" not in token
    assert len(base64.urlsafe_b64decode(mac + "==")) == 16
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert payload["v"] == 1_767_323_045_123_456


def test_every_single_character_change_is_refused() -> None:
    token = encode_page_token(CURSOR, SECRET)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for position in range(len(token)):
        if token[position] == ".":
            continue
        replacement = "A" if token[position] != "A" else "B"
        tampered = token[:position] + replacement + token[position + 1 :]
        with pytest.raises(InvalidArgument, match="page_token: not a token this server issued"):
            decode_page_token(tampered, SECRET)
    assert set(token) - {"."} <= set(alphabet)


def test_token_with_another_secret_is_refused() -> None:
    token = encode_page_token(CURSOR, b"other secret")
    with pytest.raises(InvalidArgument, match="not a token this server issued"):
        decode_page_token(token, SECRET)


def _signed(payload: bytes) -> str:
    """A token over an arbitrary payload, correctly signed: only the shape check can stop it."""
    import hashlib
    import hmac

    mac = hmac.new(SECRET, payload, hashlib.sha256).digest()[:16]

    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return enc(payload) + "." + enc(mac)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "!!!",
        "a.b.c",
        "abc.def",
        ".",
        base64.urlsafe_b64encode(b"junk junk junk").decode(),
        base64.urlsafe_b64encode(b'{"k":"x"}').decode().rstrip("=") + ".AAAAAAAAAAAAAAAAAAAAAA",
        _signed(b"not json"),
        _signed(b"[1,2]"),
        _signed(b'{"k":"x","d":false,"v":1,"t":false,"i":"a"}'),
        _signed(b'{"k":"x","d":"no","v":1,"t":false,"i":"a","f":"fp"}'),
        _signed(b'{"k":"x","d":false,"v":[1],"t":false,"i":"a","f":"fp"}'),
        _signed(b'{"k":"x","d":false,"v":"s","t":true,"i":"a","f":"fp"}'),
        _signed(b'{"k":"x","d":false,"v":1,"t":false,"i":7,"f":"fp"}'),
    ],
)
def test_garbage_tokens(token: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        decode_page_token(token, SECRET)
    assert info.value.message == "page_token: not a token this server issued"


def test_signed_valid_shape_is_accepted() -> None:
    # Guards the garbage cases above: the helper signs correctly, so they fail on shape.
    cursor = decode_page_token(
        _signed(b'{"k":"x","d":false,"v":1,"t":false,"i":"a","f":"fp"}'), SECRET
    )
    assert cursor == Cursor("x", False, 1, "a", "fp")


# --- fingerprints and parse_list_options ----------------------------------------------------


NAME_FILTER = json.dumps(
    {"predicates": [{"key": "display_name", "operation": "IS_SUBSTRING", "string_value": "a"}]}
)


def options(**overrides: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "fields": FIELDS,
        "default_sort": DEFAULT_SORT,
        "filter": NAME_FILTER,
        "sort_by": "display_name desc",
        "page_size": "5",
        "page_token": None,
        "scope": {"experiment_id": "e1", "namespace": ""},
        "secret": SECRET,
    }
    arguments.update(overrides)
    return parse_list_options(**arguments)  # type: ignore[arg-type]


def test_parse_list_options_without_token() -> None:
    parsed = options()
    assert parsed.predicates == (Predicate("display_name", Op.IS_SUBSTRING, "a"),)
    assert parsed.sort == Sort("display_name", True)
    assert parsed.page_size == 5
    assert parsed.cursor is None
    assert parsed.fingerprint == query_fingerprint(
        parsed.predicates, parsed.sort, {"namespace": "", "experiment_id": "e1"}
    )
    assert len(parsed.fingerprint) == 16


def _token_for(parsed_fingerprint: str, sort: Sort) -> str:
    cursor = Cursor(sort.key, sort.descending, "m", "id-9", parsed_fingerprint)
    return encode_page_token(cursor, SECRET)


def test_parse_list_options_accepts_its_own_token_even_with_a_new_page_size() -> None:
    first = options()
    token = _token_for(first.fingerprint, first.sort)
    second = options(page_token=token, page_size=50)
    assert second.cursor == Cursor("display_name", True, "m", "id-9", first.fingerprint)
    assert second.page_size == 50
    assert second.fingerprint == first.fingerprint


@pytest.mark.parametrize(
    "change",
    [
        {"filter": None},
        {"filter": NAME_FILTER.replace('"a"', '"b"')},
        {"sort_by": "display_name asc"},
        {"sort_by": "size desc"},
        {"scope": {"experiment_id": "e2", "namespace": ""}},
        {"scope": {"experiment_id": "e1", "namespace": "team"}},
        {"scope": {"experiment_id": "e1"}},
    ],
)
def test_token_reused_with_another_query_is_refused(change: dict[str, object]) -> None:
    first = options()
    token = _token_for(first.fingerprint, first.sort)
    with pytest.raises(InvalidArgument) as info:
        options(page_token=token, **change)
    assert info.value.message == "page_token: was issued for a different filter, sort_by or scope"


def test_fingerprint_ignores_predicate_order_but_not_values() -> None:
    a = Predicate("size", Op.GREATER_THAN, 1)
    b = Predicate("display_name", Op.EQUALS, "x")
    sort = Sort("size", False)
    assert query_fingerprint([a, b], sort, {}) == query_fingerprint([b, a], sort, {})
    assert query_fingerprint([a], sort, {}) != query_fingerprint(
        [Predicate("size", Op.GREATER_THAN, 2)], sort, {}
    )
    assert query_fingerprint([a], sort, {}) != query_fingerprint(
        [Predicate("size", Op.GREATER_THAN_EQUALS, 1)], sort, {}
    )


def test_parse_list_options_reports_bad_token() -> None:
    with pytest.raises(InvalidArgument, match="page_token: not a token this server issued"):
        options(page_token="garbage")
    # An empty token means "first page", as the SDK sends page_token= by default.
    assert options(page_token="").cursor is None
