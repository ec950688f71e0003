"""python_property_row: the property row of a plain Python value, written without messages,
is the row the messages give (``property_row(python_value(value))``), and a value the
messages refuse is refused the same way."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import pytest

from metadata_store.values import property_row, python_property_row, python_value


class Opaque:
    """A value of no JSON kind (with a repr that names tests the same in every process)."""

    def __repr__(self) -> str:
        return "Opaque()"


VALUES: list[Any] = [
    "trivial-item",
    "",
    "naïve ✓",  # non-ASCII text
    0,
    -7,
    2**63 - 1,
    -(2**63),
    True,
    False,
    1.5,
    -0.0,
    math.inf,
    {"item": 3},
    {},
    {"n": None, "b": True, "s": "x", "f": 0.1, "big": 2**53, "bigger": 2**53 + 1},
    {"nested": {"xs": [1, "a", None, [2.5], {"k": False}], "t": (1, 2)}},
    {"zeta": 1, "alpha": 2, "Mid": 3},  # sorted keys
    {"ünïcode": "välue", "k": "ü"},
    {"q": 'say "hi"\\n', "tab\t": "\x01\x7f", "": ""},  # escapes
    {"f": [1e16, 1e-7, 0.1 + 0.2, -1.5, 123456789.0, 5e-324, 1.7976931348623157e308]},
    {"i": [2**53, -(2**53), 2**53 + 1, 0, -0.0]},
    {"empty": [[], {}, ()]},
    OrderedDict(b=1, a=2),  # a dict of another class
    [1, "a", {"k": 1}],  # top-level lists and None are JSON text
    None,
    (1, 2),
]
REFUSED: list[Any] = [
    2**63,  # out of int64
    {"x": math.nan},
    {"x": math.inf},
    {"x": Opaque()},
    {1: "not a string key"},
    "\ud800",  # a lone surrogate
]


def _row_or_error(make: Any) -> Any:
    try:
        return make()
    except Exception as exc:  # the type of what is refused must match too
        return type(exc)


@pytest.mark.parametrize("value", VALUES + REFUSED, ids=repr)
@pytest.mark.parametrize("custom", [True, False])
def test_the_row_is_the_one_the_messages_give(value: Any, custom: bool) -> None:
    fast = _row_or_error(lambda: python_property_row(7, "p", value, custom=custom))
    slow = _row_or_error(lambda: property_row(7, "p", python_value(value), custom=custom))
    assert fast == slow
    if value in REFUSED:
        assert isinstance(fast, type) and issubclass(fast, Exception)
