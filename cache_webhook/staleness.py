"""KFP's max cache staleness: an ISO 8601 duration such as ``P30D`` or ``PT1H30M``."""

from __future__ import annotations

import re
from datetime import timedelta

from domain.errors import InvalidArgument

__all__ = ["parse_max_staleness"]

_DURATION = re.compile(
    r"P(?!$)"
    r"(?:(?P<years>\d+(?:\.\d+)?)Y)?"
    r"(?:(?P<months>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)"
    r"(?:(?P<hours>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?"
    r")?"
)
# Calendar units have no fixed length; these are the usual approximations for an age limit.
_DAYS_PER_UNIT = {"years": 365.0, "months": 30.0, "weeks": 7.0, "days": 1.0}
_SECONDS_PER_UNIT = {"hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


def parse_max_staleness(text: str | None) -> timedelta | None:
    """The age limit a ``max_cache_staleness`` string allows; ``None`` (any age) when unset.

    ``P30D`` is 30 days, ``PT1H`` one hour, ``P1Y2M`` 425 days (a year counts 365 days, a
    month 30), ``P0D`` zero (nothing cached qualifies). Raises ``InvalidArgument`` for
    anything that is not an ISO 8601 duration.
    """
    if text is None or not text.strip():
        return None
    value = text.strip().upper()
    match = _DURATION.fullmatch(value)
    if match is None:
        raise InvalidArgument(
            f"max cache staleness {text!r} is not an ISO 8601 duration such as 'P30D' or 'PT1H'"
        )
    parts = {name: float(number) for name, number in match.groupdict().items() if number}
    days = sum(parts.get(unit, 0.0) * size for unit, size in _DAYS_PER_UNIT.items())
    seconds = sum(parts.get(unit, 0.0) * size for unit, size in _SECONDS_PER_UNIT.items())
    try:
        return timedelta(days=days, seconds=seconds)
    except OverflowError:
        raise InvalidArgument(f"max cache staleness {text!r} is too large") from None
