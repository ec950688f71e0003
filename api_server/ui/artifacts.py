"""What the task panel shows for each output artifact, from the task's recorded outputs.

Metrics and ClassificationMetrics live in the artifact's metadata, so they are drawn on the
server (a table; a confusion matrix and an ROC curve). Markdown, HTML and data artifacts
need their content, which the page script reads from the API's artifact route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

ROC_SIZE = 240


@dataclass(frozen=True)
class ConfusionMatrix:
    categories: list[str]
    rows: list[list[float]]


@dataclass(frozen=True)
class ArtifactView:
    output: str  # the output's name
    name: str
    schema: str  # system.Metrics, system.Model, ...
    uri: str
    metadata: dict[str, Any]
    read_url: str
    preview: str  # metrics | classification | markdown | html | data
    metrics: list[tuple[str, Any]] = field(default_factory=list)
    confusion: ConfusionMatrix | None = None
    roc_points: str = ""  # SVG polyline points in a ROC_SIZE square
    roc_table: list[tuple[float, float, float]] = field(default_factory=list)


def read_url(run_id: str, node_id: str, name: str) -> str:
    return (
        f"/apis/v2beta1/runs/{quote(run_id, safe='')}/nodes/{quote(node_id, safe='')}"
        f"/artifacts/{quote(name, safe='')}:read"
    )


def _preview_kind(schema: str) -> str:
    return {
        "system.Metrics": "metrics",
        "system.ClassificationMetrics": "classification",
        "system.Markdown": "markdown",
        "system.HTML": "html",
    }.get(schema, "data")


def _confusion(metadata: Mapping[str, Any]) -> ConfusionMatrix | None:
    matrix = metadata.get("confusionMatrix")
    if not isinstance(matrix, Mapping):
        return None
    categories = [
        str(c.get("displayName", "")) if isinstance(c, Mapping) else str(c)
        for c in matrix.get("annotationSpecs") or matrix.get("categories") or []
    ]
    rows = []
    for row in matrix.get("rows") or []:
        values = row.get("row") if isinstance(row, Mapping) else row
        rows.append([v for v in values or [] if isinstance(v, int | float)])
    return ConfusionMatrix(categories, rows) if categories or rows else None


def _roc(metadata: Mapping[str, Any]) -> tuple[str, list[tuple[float, float, float]]]:
    points = []
    for entry in metadata.get("confidenceMetrics") or []:
        if not isinstance(entry, Mapping):
            continue
        try:
            fpr = float(entry.get("falsePositiveRate", 0))
            tpr = float(entry.get("recall", entry.get("truePositiveRate", 0)))
            threshold = float(entry.get("confidenceThreshold", 0))
        except (TypeError, ValueError):
            continue
        points.append((fpr, tpr, threshold))
    points.sort()
    svg = " ".join(f"{fpr * ROC_SIZE:.1f},{(1 - tpr) * ROC_SIZE:.1f}" for fpr, tpr, _ in points)
    return svg, points


def artifact_views(
    run_id: str, task_id: str, outputs: Mapping[str, Any] | None
) -> list[ArtifactView]:
    """One view per output artifact recorded on the task."""
    views = []
    artifacts = (outputs or {}).get("artifacts") or {}
    for output, entries in sorted(artifacts.items()):
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, Mapping):
                continue
            schema = str((entry.get("type") or {}).get("schemaTitle") or "system.Artifact")
            metadata = dict(entry.get("metadata") or {})
            name = str(entry.get("name") or output)
            kind = _preview_kind(schema)
            roc_points, roc_table = _roc(metadata) if kind == "classification" else ("", [])
            views.append(
                ArtifactView(
                    output=output,
                    name=name,
                    schema=schema,
                    uri=str(entry.get("uri") or ""),
                    metadata=metadata,
                    read_url=read_url(run_id, task_id, output),
                    preview=kind,
                    metrics=sorted((k, v) for k, v in metadata.items() if k != "display_name")
                    if kind == "metrics"
                    else [],
                    confusion=_confusion(metadata) if kind == "classification" else None,
                    roc_points=roc_points,
                    roc_table=roc_table,
                )
            )
    return views


def metric_values(outputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Scalar metrics of a task's Metrics artifacts, keyed ``output.metric``."""
    values: dict[str, Any] = {}
    artifacts = (outputs or {}).get("artifacts") or {}
    for output, entries in artifacts.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, Mapping):
                continue
            if (entry.get("type") or {}).get("schemaTitle") != "system.Metrics":
                continue
            for key, value in (entry.get("metadata") or {}).items():
                if key != "display_name" and isinstance(value, int | float | str):
                    values[f"{output}.{key}"] = value
    return values
