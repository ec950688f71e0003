"""Compare 2 to 10 runs side by side: parameters and metrics, rows that differ marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from api_server.services import ListQuery
from domain.errors import InvalidArgument
from domain.resources import Run

from . import artifacts, lists
from .routing import PageRoute, pages_of, services_of
from .templating import compact_value

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MIN_RUNS = 2
MAX_RUNS = 10
MISSING = "\u2014"


@dataclass(frozen=True)
class CompareRow:
    name: str
    values: list[str]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def _rows(per_run: list[dict[str, Any]]) -> list[CompareRow]:
    names = sorted({name for values in per_run for name in values})
    return [
        CompareRow(
            name,
            [compact_value(values[name]) if name in values else MISSING for values in per_run],
        )
        for name in names
    ]


def run_metrics(run: Run) -> dict[str, Any]:
    """Scalar metrics of every task's Metrics artifacts, keyed ``task.output.metric``."""
    values: dict[str, Any] = {}
    for task in run.tasks or []:
        for key, value in artifacts.metric_values(task.outputs).items():
            values[f"{task.display_name}.{key}"] = value
    return values


@router.get("/compare", name="ui_compare")
def compare_page(request: Request) -> Response:
    services = services_of(request)
    run_ids = list(dict.fromkeys(v for v in request.query_params.getlist("run_id") if v))
    if len(run_ids) > MAX_RUNS:
        raise InvalidArgument(f"run_id: compare at most {MAX_RUNS} runs, got {len(run_ids)}")
    runs = [services.runs.get(run_id) for run_id in run_ids]
    if len(runs) < MIN_RUNS:
        # Offer the latest runs of the same experiment to pick from.
        experiment_id = runs[0].experiment_id if runs else None
        candidates = services.runs.list(
            ListQuery(sort_by="created_at desc", page_size=20),
            experiment_id=experiment_id,
            namespace=None,
        ).items
        return pages_of(request).render(
            request,
            "compare_pick.html",
            title="Compare runs",
            nav="runs",
            chosen=run_ids,
            candidates=candidates,
        )
    names = lists.experiment_names(services, (r.experiment_id for r in runs))
    parameters = _rows([(r.runtime_config or {}).get("parameters") or {} for r in runs])
    overview = [
        CompareRow("state", [r.state for r in runs]),
        CompareRow("pipeline version", [r.pipeline_version_id or "inline spec" for r in runs]),
        CompareRow("experiment", [names.get(r.experiment_id, r.experiment_id) for r in runs]),
    ]
    return pages_of(request).render(
        request,
        "compare.html",
        title="Compare runs",
        nav="runs",
        runs=runs,
        overview=overview,
        parameters=parameters,
        metrics=_rows([run_metrics(r) for r in runs]),
    )
