"""Jinja2 set-up for the web UI: autoescaping on for every template, and the filters that
turn domain values into what a person reads (local timestamps, durations, state badges)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from domain.states import RuntimeState

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Colour family per state; the state's name is always printed next to the colour.
_STATE_TONES = {
    RuntimeState.PENDING.value: "waiting",
    RuntimeState.RUNNING.value: "active",
    RuntimeState.SUCCEEDED.value: "good",
    RuntimeState.SKIPPED.value: "muted",
    RuntimeState.FAILED.value: "bad",
    RuntimeState.CANCELING.value: "warn",
    RuntimeState.CANCELED.value: "muted",
    RuntimeState.PAUSED.value: "warn",
    "CACHED": "good",
    "ENABLED": "good",
    "DISABLED": "muted",
    "AVAILABLE": "good",
    "ARCHIVED": "muted",
}
_STATE_ICONS = {
    "waiting": "\u25cb",  # ○
    "active": "\u25d4",  # ◔
    "good": "\u2713",  # ✓
    "bad": "\u2717",  # ✗
    "warn": "\u25a0",  # ■
    "muted": "\u2013",  # en dash
}


def state_tone(state: str | None) -> str:
    return _STATE_TONES.get(state or "", "muted")


def state_badge(state: str | None) -> Markup:
    """A state as colour, icon and text: colour alone never carries the meaning."""
    name = state or "UNKNOWN"
    tone = state_tone(name)
    return Markup(
        '<span class="state state-{tone}" data-state="{name}">'
        '<span aria-hidden="true">{icon}</span> {label}</span>'
    ).format(tone=tone, name=name, icon=_STATE_ICONS[tone], label=name.replace("_", " ").lower())


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def timestamp(value: datetime | None) -> Markup:
    """A ``<time>`` the page script rewrites into the browser's zone; UTC stays on hover."""
    if value is None:
        return Markup('<span class="none">\u2014</span>')
    iso = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    text = utc_text(value)
    return Markup('<time datetime="{iso}" title="{text}">{text}</time>').format(iso=iso, text=text)


def human_duration(seconds: float | None) -> str:
    """``3h 4m``, ``2m 5s``, ``850 ms``: the two largest units are enough to read."""
    if seconds is None:
        return "\u2014"
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def duration_between(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "\u2014"
    finish = end or datetime.now(UTC)
    return human_duration(max((finish - start).total_seconds(), 0.0))


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def compact_value(value: Any) -> str:
    """A parameter value as one line: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"], default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        state_badge=state_badge,
        timestamp=timestamp,
        duration=duration_between,
        human_duration=human_duration,
        pretty_json=pretty_json,
        compact=compact_value,
    )
    env.globals.update(state_tone=state_tone)
    return env


class Pages:
    """Renders templates into responses; one per app."""

    def __init__(self) -> None:
        self.env = build_environment()

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        page = self.env.get_template(template).render(request=request, **context)
        return HTMLResponse(page, status_code=status_code)


__all__ = ["Pages", "escape"]
