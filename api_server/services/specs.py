"""Accepting pipeline specs from clients and giving them back in the shape they came in."""

from __future__ import annotations

import hashlib
import math
from typing import Any

from sqlalchemy.orm import Session

from domain.errors import InvalidArgument
from domain.pipeline_spec import PipelinePackage, canonical_json, split_submitted_spec

from .context import ServiceContext


def store_package(ctx: ServiceContext, session: Session, package: PipelinePackage) -> str:
    """Save a validated package content-addressed; returns its digest."""
    digest, canonical = digest_package(package)
    ctx.specs.save(session, digest=digest, canonical=canonical)
    return digest


def digest_package(package: PipelinePackage) -> tuple[str, bytes]:
    """A package's content address and the canonical JSON it is stored as."""
    canonical = canonical_json(package)
    return hashlib.sha256(canonical).hexdigest(), canonical


def package_from_body(field: str, value: Any) -> PipelinePackage:
    """A ``pipeline_spec`` from a JSON body: bare spec or {pipeline_spec, platform_spec}."""
    if not isinstance(value, dict) or not value:
        raise InvalidArgument(f"{field}: must be a non-empty pipeline spec object")
    try:
        return split_submitted_spec(value)
    except InvalidArgument as exc:
        # Prefix the body field so the client knows which part of its request is wrong.
        message = exc.message
        prefix = "pipeline_spec"
        if message.startswith(prefix):
            message = message[len(prefix) :].lstrip(".: ")
        raise InvalidArgument(f"{field}: {message}") from exc


def wire_spec(document: dict[str, Any]) -> dict[str, Any]:
    """The stored document as KFP returns it: the bare spec, or the wrapper if a platform
    spec came with it."""
    if document.get("platform_spec"):
        return {
            "pipeline_spec": document["pipeline_spec"],
            "platform_spec": document["platform_spec"],
        }
    return dict(document["pipeline_spec"])


def document_of(package: PipelinePackage) -> dict[str, Any]:
    return {"pipeline_spec": package.pipeline_spec, "platform_spec": package.platform_spec}


_TYPE_CHECKS: dict[str, tuple[str, Any]] = {
    "STRING": ("a string", lambda v: isinstance(v, str)),
    "NUMBER_INTEGER": (
        "an integer",
        lambda v: (
            (isinstance(v, int) and not isinstance(v, bool))
            or (isinstance(v, float) and math.isfinite(v) and v.is_integer())
        ),
    ),
    "NUMBER_DOUBLE": (
        "a number",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    ),
    "BOOLEAN": ("true or false", lambda v: isinstance(v, bool)),
    "LIST": ("a list", lambda v: isinstance(v, list)),
    "STRUCT": ("an object", lambda v: isinstance(v, dict)),
}


def check_runtime_config(spec: dict[str, Any], runtime_config: Any) -> dict[str, Any] | None:
    """Check ``runtime_config`` against the pipeline's inputs: known names, required ones
    present, values of the declared type. Returns the normalised config (None if empty)."""
    if runtime_config is None:
        runtime_config = {}
    if not isinstance(runtime_config, dict):
        raise InvalidArgument("runtime_config: must be an object")
    parameters = runtime_config.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidArgument("runtime_config.parameters: must be an object of values")
    pipeline_root = runtime_config.get("pipeline_root") or ""
    if not isinstance(pipeline_root, str):
        raise InvalidArgument("runtime_config.pipeline_root: must be a string")

    declared: dict[str, Any] = (spec.get("root") or {}).get("inputDefinitions", {}).get(
        "parameters", {}
    ) or {}
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise InvalidArgument(
            f"runtime_config.parameters: unknown parameter {unknown[0]!r} "
            f"(the pipeline's parameters: {known})"
        )
    for name, definition in sorted(declared.items()):
        if name not in parameters:
            optional = definition.get("isOptional") or "defaultValue" in definition
            if not optional:
                raise InvalidArgument(
                    f"runtime_config.parameters: missing required parameter {name!r}"
                )
            continue
        value = parameters[name]
        check = _TYPE_CHECKS.get(definition.get("parameterType", ""))
        if check is not None and value is not None and not check[1](value):
            raise InvalidArgument(
                f"runtime_config.parameters[{name!r}]: must be {check[0]}, got {value!r}"
            )

    config: dict[str, Any] = {}
    if parameters:
        config["parameters"] = parameters
    if pipeline_root:
        config["pipeline_root"] = pipeline_root
    return config or None
