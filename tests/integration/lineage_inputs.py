"""Artifacts as the embedded engine describes them, for the lineage tests."""

from __future__ import annotations

from typing import Any


def kfp_artifact(uri: str, title: str = "system.Dataset", **extra: Any) -> dict[str, Any]:
    """``{"uri", "type": {"schemaTitle", "schemaVersion"}, ...extra}``."""
    return {"uri": uri, "type": {"schemaTitle": title, "schemaVersion": "0.0.1"}, **extra}
