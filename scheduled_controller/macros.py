"""The parameter macros KFP substitutes in a scheduled run's parameters.

* ``[[ScheduledTime]]`` / ``[[CurrentTime]]``: the slot's / the creation's time in UTC as
  ``YYYYMMDDhhmmss``; ``[[ScheduledTime.<layout>]]`` / ``[[CurrentTime.<layout>]]`` format
  it with a Go time layout (KFP's controller is written in Go, so its users write Go's
  reference time ``2006-01-02 15:04:05``), e.g. ``[[ScheduledTime.2006-01-02]]``.
* ``[[Index]]``: the run's 1-based sequence number within its recurring run.
* ``{{$.pipeline_job_schedule_time_utc}}`` / ``{{$.pipeline_job_create_time_utc}}``: the
  SDK's placeholders (``dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER`` ...) when given as
  a parameter value: RFC 3339 in UTC.

Times are whole seconds (KFP passes epoch seconds). Unknown ``[[...]]`` macros are left
as they are, as KFP does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_MACRO = re.compile(r"\[\[(.*?)\]\]")
_DEFAULT_LAYOUT = "20060102150405"
_SCHEDULE_TIME_PLACEHOLDER = "{{$.pipeline_job_schedule_time_utc}}"
_CREATE_TIME_PLACEHOLDER = "{{$.pipeline_job_create_time_utc}}"

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Go layout elements, longest first where one is a prefix of another (Go's own order).
_GO_ELEMENTS: tuple[tuple[str, Any], ...] = (
    ("January", lambda t: _MONTHS[t.month - 1]),
    ("Jan", lambda t: _MONTHS[t.month - 1][:3]),
    ("Monday", lambda t: _DAYS[t.weekday()]),
    ("Mon", lambda t: _DAYS[t.weekday()][:3]),
    ("MST", lambda t: "UTC"),
    ("2006", lambda t: f"{t.year:04d}"),
    ("-07:00:00", lambda t: "+00:00:00"),
    ("-0700", lambda t: "+0000"),
    ("-07:00", lambda t: "+00:00"),
    ("-07", lambda t: "+00"),
    ("Z07:00:00", lambda t: "Z"),
    ("Z0700", lambda t: "Z"),
    ("Z07:00", lambda t: "Z"),
    ("Z07", lambda t: "Z"),
    ("002", lambda t: f"{t.timetuple().tm_yday:03d}"),
    ("__2", lambda t: f"{t.timetuple().tm_yday:>3d}"),
    ("_2", lambda t: f"{t.day:>2d}"),
    ("01", lambda t: f"{t.month:02d}"),
    ("02", lambda t: f"{t.day:02d}"),
    ("03", lambda t: f"{(t.hour % 12) or 12:02d}"),
    ("04", lambda t: f"{t.minute:02d}"),
    ("05", lambda t: f"{t.second:02d}"),
    ("06", lambda t: f"{t.year % 100:02d}"),
    ("15", lambda t: f"{t.hour:02d}"),
    ("PM", lambda t: "PM" if t.hour >= 12 else "AM"),
    ("pm", lambda t: "pm" if t.hour >= 12 else "am"),
    ("1", lambda t: str(t.month)),
    ("2", lambda t: str(t.day)),
    ("3", lambda t: str((t.hour % 12) or 12)),
    ("4", lambda t: str(t.minute)),
    ("5", lambda t: str(t.second)),
)
_FRACTION = re.compile(r"[.,](0+|9+)(?![0-9])")


def go_format(moment: datetime, layout: str) -> str:
    """Format a UTC instant with a Go time layout (whole seconds)."""
    moment = moment.astimezone(UTC)
    out: list[str] = []
    i = 0
    while i < len(layout):
        fraction = _FRACTION.match(layout, i)
        if fraction:
            # ".000" keeps its zeros, ".999" drops trailing zeros (all of them here).
            digits = fraction.group(1)
            if digits[0] == "0":
                out.append(layout[i] + "0" * len(digits))
            i = fraction.end()
            continue
        for element, render in _GO_ELEMENTS:
            if layout.startswith(element, i):
                out.append(render(moment))
                i += len(element)
                break
        else:
            out.append(layout[i])
            i += 1
    return "".join(out)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def substitute(text: str, *, scheduled_at: datetime, created_at: datetime, index: int) -> str:
    """``text`` with every macro KFP knows replaced."""
    scheduled = scheduled_at.astimezone(UTC).replace(microsecond=0)
    current = created_at.astimezone(UTC).replace(microsecond=0)
    if _SCHEDULE_TIME_PLACEHOLDER in text:
        text = text.replace(_SCHEDULE_TIME_PLACEHOLDER, _rfc3339(scheduled))
    if _CREATE_TIME_PLACEHOLDER in text:
        text = text.replace(_CREATE_TIME_PLACEHOLDER, _rfc3339(current))
    if "[[" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "Index":
            return str(index)
        for prefix, moment in (("ScheduledTime", scheduled), ("CurrentTime", current)):
            if name == prefix:
                return go_format(moment, _DEFAULT_LAYOUT)
            if name.startswith(prefix + "."):
                return go_format(moment, name[len(prefix) + 1 :])
        return match.group(0)

    return _MACRO.sub(replace, text)


def substitute_parameters(
    parameters: dict[str, Any], *, scheduled_at: datetime, created_at: datetime, index: int
) -> dict[str, Any]:
    """A copy of a run's parameters with macros replaced in every string, nested too."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return substitute(value, scheduled_at=scheduled_at, created_at=created_at, index=index)
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    return {name: walk(value) for name, value in parameters.items()}
