"""Helpers shared by the validators: field paths for messages and typed field access.

A path reads like ``pipeline_spec.components['comp-a'].dag.tasks['t'].componentRef.name``:
schema-defined fields are joined with dots, user-chosen map keys and list indexes in brackets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

from domain.errors import InvalidArgument

ROOT_PATH = "pipeline_spec"


def join_field(path: str, name: str) -> str:
    """Path of a fixed (schema-defined) field."""
    return f"{path}.{name}"


def join_entry(path: str, key: str | int) -> str:
    """Path of a user-named map entry or a list item."""
    return f"{path}[{key!r}]"


def fail(path: str, problem: str) -> NoReturn:
    raise InvalidArgument(f"{path}: {problem}")


def describe_kind(value: Any) -> str:
    """A JSON-ish name for the type of ``value``, for error messages ("a list")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def as_mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        fail(path, f"must be a mapping, got {describe_kind(value)}")
    return value


def opt_mapping(container: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """``container[key]`` as a mapping; an absent (or null) field reads as empty."""
    value = container.get(key)
    if value is None:
        return {}
    return as_mapping(value, join_field(path, key))


def req_mapping(container: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    if container.get(key) is None:
        fail(join_field(path, key), "missing")
    return as_mapping(container[key], join_field(path, key))


def opt_list(container: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        fail(join_field(path, key), f"must be a list, got {describe_kind(value)}")
    return value


def req_str(container: Mapping[str, Any], key: str, path: str) -> str:
    """A required non-empty string field."""
    value = container.get(key)
    if value is None:
        fail(join_field(path, key), "missing")
    if not isinstance(value, str) or not value:
        fail(
            join_field(path, key),
            f"must be a non-empty string, got {describe_kind(value)} {value!r}",
        )
    return value


def sorted_items(mapping: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    # Keys are strings once loaded (the package loader enforces it); str() guards odd callers.
    for key in sorted(mapping, key=str):
        yield key, mapping[key]
