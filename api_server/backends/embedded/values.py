"""Parameter values as the pipeline IR moves them around: typing by the declared
``parameterType``, the ``parameterExpressionSelector`` of loop items, and the pipeline-level
``{{$.pipeline_job_…}}`` placeholders that constants may contain.

Values are plain JSON-compatible Python (str, int, float, bool, list, dict, None).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .placeholders import PipelineContext, PlaceholderError


class InputValueError(Exception):
    """A value that cannot be given the declared type, or an unsupported selector."""


_CONTEXT_PLACEHOLDER = re.compile(r"\{\{\$\.(pipeline_[a-z_]+)\}\}")


def expand_context(value: Any, context: PipelineContext) -> Any:
    """Replace ``{{$.pipeline_job_name}}`` and friends inside string constants."""
    if not isinstance(value, str) or "{{$." not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        try:
            found = context.value_of("." + match.group(1))
        except PlaceholderError:
            found = None
        return found if found is not None else match.group(0)

    return _CONTEXT_PLACEHOLDER.sub(replace, value)


def coerce(value: Any, parameter_type: str | None, *, name: str) -> Any:
    """Give ``value`` the declared type where the IR's JSON lost it (integers arrive as
    ``6.0``; list/struct/bool values sometimes arrive as JSON text)."""
    if value is None or not parameter_type:
        return value
    try:
        if parameter_type == "NUMBER_INTEGER":
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                return int(float(value)) if float(value).is_integer() else float(value)
            return value
        if parameter_type == "NUMBER_DOUBLE":
            if isinstance(value, (int, str)) and not isinstance(value, bool):
                return float(value)
            return value
        if parameter_type == "BOOLEAN":
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("true", "false"):
                    return lowered == "true"
                raise InputValueError(f"input {name!r}: {value!r} is not a boolean")
            return value
        if parameter_type in ("LIST", "STRUCT"):
            if isinstance(value, str):
                parsed = json.loads(value)
                expected = list if parameter_type == "LIST" else dict
                if not isinstance(parsed, expected):
                    raise InputValueError(f"input {name!r}: {value!r} is not a {parameter_type}")
                return parsed
            return value
    except (TypeError, json.JSONDecodeError, OverflowError) as exc:
        raise InputValueError(f"input {name!r}: cannot read {value!r} as {parameter_type}") from exc
    except ValueError as exc:
        raise InputValueError(f"input {name!r}: cannot read {value!r} as {parameter_type}") from exc
    return value


_SELECTOR_STEP = re.compile(r'\s*\[\s*(?:"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|(-?\d+))\s*\]')


def apply_selector(value: Any, selector: str, *, name: str) -> Any:
    """Evaluate the ``parameterExpressionSelector`` forms the kfp compiler emits for loop
    items: ``parseJson(string_value)["key"]`` (possibly chained, or with an index),
    ``string_value``, ``number_value``, ``bool_value``, ``list_value``, ``struct_value``."""
    text = selector.strip()
    if text in ("string_value", "number_value", "bool_value", "list_value", "struct_value"):
        return value
    prefix = "parseJson(string_value)"
    if not text.startswith(prefix):
        raise InputValueError(f"input {name!r}: unsupported parameter selector {selector!r}")
    current = json.loads(value) if isinstance(value, str) else value
    rest = text[len(prefix) :]
    while rest.strip():
        match = _SELECTOR_STEP.match(rest)
        if match is None:
            raise InputValueError(f"input {name!r}: unsupported parameter selector {selector!r}")
        key_dq, key_sq, index = match.groups()
        try:
            if index is not None:
                current = current[int(index)]
            else:
                key = json.loads(f'"{key_dq}"') if key_dq is not None else key_sq
                current = current[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise InputValueError(
                f"input {name!r}: selector {selector!r} does not match {current!r}"
            ) from exc
        rest = rest[match.end() :]
    return current


def loop_items(raw: Any, *, name: str) -> list[Any]:
    """The items a ParallelFor iterates over: a list, or JSON text of one."""
    items = raw
    if isinstance(raw, str):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputValueError(f"loop {name!r}: items {raw!r} are not a JSON list") from exc
    if not isinstance(items, list):
        raise InputValueError(f"loop {name!r}: items must be a list, got {type(items).__name__}")
    return items


def defaults_of(definitions: Mapping[str, Any]) -> dict[str, Any]:
    """``defaultValue`` of each declared parameter that has one."""
    return {
        name: spec["defaultValue"]
        for name, spec in definitions.items()
        if isinstance(spec, Mapping) and "defaultValue" in spec
    }
