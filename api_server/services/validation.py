"""Field checks shared by the services; messages name the field and the problem."""

from __future__ import annotations

from typing import Any

from domain.errors import InvalidArgument

MAX_NAME_LENGTH = 255
MAX_NAMESPACE_LENGTH = 63
MAX_DESCRIPTION_LENGTH = 65_535


def required_name(field: str, value: str | None) -> str:
    """A name of at most 255 characters that is not blank. Kept exactly as given, as KFP
    does: clients look names up by exact match (kfp.Client's get-or-create)."""
    text = value or ""
    if not text.strip():
        raise InvalidArgument(f"{field}: must not be empty")
    return bounded(field, text, MAX_NAME_LENGTH)


def optional_name(field: str, value: str | None) -> str | None:
    """A name as given, or None when absent or blank."""
    text = value or ""
    return bounded(field, text, MAX_NAME_LENGTH) if text.strip() else None


def bounded(field: str, value: str | None, limit: int) -> str:
    text = value or ""
    if len(text) > limit:
        raise InvalidArgument(f"{field}: longer than {limit} characters ({len(text)})")
    return text


def description(field: str, value: str | None) -> str:
    return bounded(field, value, MAX_DESCRIPTION_LENGTH)


def namespace(value: str | None) -> str:
    return bounded("namespace", (value or "").strip(), MAX_NAMESPACE_LENGTH)


def plugins_input(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise InvalidArgument("plugins_input: must be an object")
    return value or None


def tags(field: str, value: Any) -> dict[str, str] | None:
    """KFP tags: a flat map of strings (at most 20 entries)."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: must be an object of string values")
    if len(value) > 20:
        raise InvalidArgument(f"{field}: at most 20 tags, got {len(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidArgument(f"{field}: tag {key!r} must map a string to a string")
        bounded(f"{field}[{key!r}]", item, MAX_NAME_LENGTH)
    return dict(value)
