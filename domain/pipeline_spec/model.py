"""The parsed pipeline package and its canonical, content-addressed serialisation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidArgument


@dataclass(frozen=True)
class PipelinePackage:
    """A validated pipeline: the PipelineSpec IR and the optional platform spec.

    Both are plain JSON-compatible dicts with the protobuf-JSON (camelCase) keys the compiler
    wrote. ``platform_spec`` is ``None`` when the package carried no platform configuration.
    """

    pipeline_spec: dict[str, Any]
    platform_spec: dict[str, Any] | None


def pipeline_name(spec: Mapping[str, Any]) -> str:
    """The pipeline's ``pipelineInfo.name``; ``InvalidArgument`` if it is missing or empty."""
    info = spec.get("pipelineInfo") if isinstance(spec, Mapping) else None
    name = info.get("name") if isinstance(info, Mapping) else None
    if not isinstance(name, str) or not name:
        raise InvalidArgument("pipeline_spec.pipelineInfo.name: missing or not a non-empty string")
    return name


def canonical_json(package: PipelinePackage) -> bytes:
    """The canonical bytes of a package: the ones ``spec_digest`` hashes and the API stores.

    Sorted keys and compact separators make the bytes independent of the key order of the
    upload; ASCII escaping keeps them independent of any text encoding choice.
    """
    document = {"pipeline_spec": package.pipeline_spec, "platform_spec": package.platform_spec}
    try:
        text = json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
    except (TypeError, ValueError) as exc:  # only reachable for packages built by hand
        raise InvalidArgument(f"pipeline package is not JSON-serialisable: {exc}") from exc
    return text.encode("ascii")


def spec_digest(package: PipelinePackage) -> str:
    """Hex sha256 of ``canonical_json(package)``: stable across key order."""
    return hashlib.sha256(canonical_json(package)).hexdigest()
