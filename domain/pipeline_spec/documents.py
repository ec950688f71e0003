"""Turning text into pipeline documents: JSON/YAML parsing and plain-data checks.

Everything downstream (validation, canonical JSON, storage) assumes JSON-compatible data, so
the YAML loader is configured not to invent non-JSON values, and the result is checked.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from domain.errors import InvalidArgument
from domain.pipeline_spec._paths import describe_kind

# Deeper than any real PipelineSpec; keeps later recursive consumers (json.dumps) safe.
MAX_DEPTH = 200

if TYPE_CHECKING:
    from yaml import SafeLoader as _BaseLoader
else:  # libyaml's loader is ~10x faster; pure Python is the fallback where it is not built
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_BaseLoader):
    """Safe YAML loader that leaves date-like scalars as strings.

    Protobuf JSON has no timestamp type: an unquoted ``2024-01-01`` in a hand-written spec is
    meant as a string, and a ``datetime`` would not survive canonical JSON anyway.
    """


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def decode_text(data: bytes, label: str) -> str:
    """UTF-8 text (a leading BOM is tolerated), or ``InvalidArgument``."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"{label}: not a YAML or JSON text file (invalid UTF-8 at byte {exc.start})"
        ) from exc


def parse_documents(text: str, label: str, *, json_only: bool = False) -> list[Any]:
    """All non-empty documents of a JSON or (multi-document) YAML text, in order.

    JSON is tried first when the text looks like JSON, because some valid JSON (for example
    tab-indented) is not valid YAML. ``json_only`` is set for ``.json`` files.
    """
    stripped = text.lstrip()
    if json_only or stripped.startswith(("{", "[")):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            if json_only:
                raise InvalidArgument(
                    f"{label}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                ) from exc
        except RecursionError as exc:
            raise InvalidArgument(f"{label}: nested too deeply") from exc
    try:
        documents = list(yaml.load_all(text, Loader=_SpecLoader))
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{label}: not valid YAML or JSON: {_yaml_problem(exc)}") from exc
    except RecursionError as exc:
        raise InvalidArgument(f"{label}: nested too deeply") from exc
    # An empty document (a stray '---', a comment-only file) carries nothing.
    return [doc for doc in documents if doc is not None]


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A one-line description of a YAML error (PyYAML's own text spans several lines)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        where = ""
        if exc.problem_mark is not None:
            where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})"
        return f"{exc.problem}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check_plain_data(value: Any, path: str) -> None:
    """Require JSON-compatible data: string keys, finite numbers, no YAML-only types.

    Iterative, so hostile nesting cannot exhaust the interpreter stack.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidArgument(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, Mapping):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise InvalidArgument(f"{where}: mapping key {key!r} is not a string")
                stack.append((child, _child_path(where, key), depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            raise InvalidArgument(f"{where}: {node} is not a JSON number")
        elif node is not None and not isinstance(node, str | int | float | bool):
            raise InvalidArgument(f"{where}: unsupported value of type {type(node).__name__}")


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{key!r}]"


def merge_platform_documents(documents: list[Any], label: str) -> dict[str, Any]:
    """Deep-merge the platform-spec documents (2nd and later) into one mapping.

    Later documents win on conflicting scalar values; nested mappings are merged, so two
    documents that each configure ``platforms.kubernetes`` both take effect.
    """
    merged: dict[str, Any] = {}
    for number, document in enumerate(documents, start=2):
        if not isinstance(document, Mapping):
            raise InvalidArgument(
                f"{label}: YAML document {number} must be a mapping (a platform spec), "
                f"got {describe_kind(document)}"
            )
        _deep_merge(merged, document)
    return merged


def _deep_merge(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        elif isinstance(value, Mapping):
            target[key] = {}
            _deep_merge(target[key], value)
        else:
            target[key] = value


def check_platform_spec(platform: Mapping[str, Any], path: str) -> None:
    """The little a platform spec must satisfy: ``platforms`` maps platform name to config."""
    platforms = platform.get("platforms")
    if platforms is not None and not isinstance(platforms, Mapping):
        raise InvalidArgument(f"{path}.platforms: must be a mapping of platform name to config")
    for name, config in (platforms or {}).items():
        if not isinstance(config, Mapping):
            raise InvalidArgument(f"{path}.platforms[{name!r}]: must be a mapping")
