"""Recurring run pages: the list (trigger, next fire time, status, enable/disable) and one
recurring run with its upcoming fire times and the runs it started."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from api_server.services import ListQuery

from . import lists, schedule
from .routing import PageRoute, pages_of, services_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)

RECURRING_SORTS = ("display_name", "created_at", "updated_at")
UPCOMING = 5
RUNS_SHOWN = 20


@router.get("/recurring-runs", name="ui_recurring_runs")
def recurring_runs_list(request: Request) -> Response:
    services = services_of(request)
    params = dict(request.query_params)
    predicates = lists.common_predicates(params, archivable=False)
    if params.get("status") in ("ENABLED", "DISABLED"):
        predicates.append(lists.predicate("status", "EQUALS", string_value=params["status"]))
    sort = lists.parse_sort(params.get("sort"), RECURRING_SORTS, "-created_at")
    page = services.recurring_runs.list(
        lists.list_query(params, predicates, sort),
        experiment_id=params.get("experiment_id") or None,
        namespace=None,
    )
    now = datetime.now(UTC)
    return pages_of(request).render(
        request,
        "recurring_runs_list.html",
        title="Recurring runs",
        nav="recurring",
        page=page,
        params=params,
        sort=sort,
        triggers={r.recurring_run_id: schedule.describe_trigger(r) for r in page.items},
        next_times={
            r.recurring_run_id: next(iter(schedule.next_fire_times(r, now)), None)
            for r in page.items
        },
        experiment_names=lists.experiment_names(services, (r.experiment_id for r in page.items)),
        **lists.paging_links("/recurring-runs", params, page.next_page_token, sort),
    )


@router.get("/recurring-runs/{recurring_run_id}", name="ui_recurring_run")
def recurring_run_page(request: Request, recurring_run_id: str) -> Response:
    services = services_of(request)
    recurring_run = services.recurring_runs.get(recurring_run_id)
    runs = services.runs.list(
        ListQuery(
            filter=lists.filter_json(
                [lists.predicate("recurring_run_id", "EQUALS", string_value=recurring_run_id)]
            ),
            sort_by="created_at desc",
            page_size=RUNS_SHOWN,
        ),
        experiment_id=recurring_run.experiment_id,
        namespace=None,
    )
    return pages_of(request).render(
        request,
        "recurring_run.html",
        title=recurring_run.display_name,
        nav="recurring",
        recurring_run=recurring_run,
        trigger=schedule.describe_trigger(recurring_run),
        upcoming=schedule.next_fire_times(recurring_run, datetime.now(UTC), UPCOMING),
        runs=runs,
        parameters=(recurring_run.runtime_config or {}).get("parameters") or {},
        experiment_name=lists.experiment_names(services, [recurring_run.experiment_id]).get(
            recurring_run.experiment_id, recurring_run.experiment_id
        ),
    )
