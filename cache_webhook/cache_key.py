"""The cache key (execution signature) of a container task: one function for the embedded
engine and the cache webhook, so a step cached by one is found by the other.

What decides a task's result, and nothing else, goes into the key (the same ingredients as
KFP's ``CacheKey``): the input parameter values, the input artifacts, the names and types of
the outputs, and the container's image, command and args *as written in the spec*, before
placeholders are resolved (resolved paths differ from run to run). Input artifacts are
identified by uri and type: an upstream task that was itself a cache hit hands down the
same uri, so whole chains hit. Everything is written as canonical JSON (sorted keys, no
spaces, integral floats as integers, a format version) and hashed with SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["KEY_FORMAT", "cache_key", "canonical_cache_document"]

# Bump when the document changes shape: old entries then simply stop matching.
KEY_FORMAT = "headrace.cache-key/1"


def cache_key(
    component: Mapping[str, Any],
    container: Mapping[str, Any],
    inputs: Mapping[str, Any],
    *,
    override: str | None = None,
) -> str:
    """The SHA-256 hex digest that identifies a task's execution for caching.

    ``component`` is the IR component spec (its ``outputDefinitions`` matter), ``container``
    the deploymentSpec executor's ``container`` (``image``, ``command``, ``args``), and
    ``inputs`` the task's resolved inputs, either as the engine records them
    (``{"parameters": {...}, "artifacts": {name: [artifact, ...]}}``) or as ExecutorInput's
    ``inputs`` (``{"parameterValues": {...}, "artifacts": {name: {"artifacts": [...]}}}``):
    both give the same key. ``override`` is the task's ``cachingOptions.cacheKey``
    (``set_caching_options(cache_key=...)``); when set it replaces the computed key, so
    every task carrying the same override shares one cache entry whatever its inputs.
    """
    if override:
        document: dict[str, Any] = {"format": KEY_FORMAT, "cacheKey": override}
    else:
        document = canonical_cache_document(component, container, inputs)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_cache_document(
    component: Mapping[str, Any], container: Mapping[str, Any], inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON document :func:`cache_key` hashes (handy to log why two keys differ)."""
    outputs = component.get("outputDefinitions") or {}
    return {
        "format": KEY_FORMAT,
        "inputParameterValues": {
            name: _canonical_value(value) for name, value in _input_parameters(inputs).items()
        },
        "inputArtifacts": {
            name: [_artifact_identity(artifact) for artifact in artifacts]
            for name, artifacts in _input_artifacts(inputs).items()
        },
        "outputParametersSpec": {
            name: str((spec or {}).get("parameterType", ""))
            for name, spec in (outputs.get("parameters") or {}).items()
        },
        "outputArtifactsSpec": {
            name: {
                "type": _artifact_type((spec or {}).get("artifactType")),
                "isArtifactList": bool((spec or {}).get("isArtifactList", False)),
            }
            for name, spec in (outputs.get("artifacts") or {}).items()
        },
        "containerSpec": {
            "image": str(container.get("image", "")),
            "command": [str(part) for part in container.get("command") or []],
            "args": [str(part) for part in container.get("args") or []],
        },
    }


def _input_parameters(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    parameters = inputs.get("parameters")
    if parameters is None:
        parameters = inputs.get("parameterValues")
    return parameters or {}


def _input_artifacts(inputs: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    artifacts: dict[str, list[Mapping[str, Any]]] = {}
    for name, value in (inputs.get("artifacts") or {}).items():
        # ExecutorInput wraps each input's list as {"artifacts": [...]}.
        items = value.get("artifacts", []) if isinstance(value, Mapping) else value
        artifacts[name] = list(items or [])
    return artifacts


def _artifact_identity(artifact: Mapping[str, Any]) -> dict[str, Any]:
    return {"uri": str(artifact.get("uri", "")), "type": _artifact_type(artifact.get("type"))}


def _artifact_type(value: Any) -> dict[str, str]:
    """``{"schemaTitle", "schemaVersion"}``; a bare string is a schema title."""
    if isinstance(value, str):
        return {"schemaTitle": value, "schemaVersion": ""}
    value = value or {}
    return {
        "schemaTitle": str(value.get("schemaTitle", "")),
        "schemaVersion": str(value.get("schemaVersion", "")),
    }


def _canonical_value(value: Any) -> Any:
    """Parameter values as protobuf ``Value`` sees them: 3 and 3.0 are the same number."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(key): _canonical_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(item) for item in value]
    raise TypeError(f"cache key: input value of type {type(value).__name__} is not JSON")
