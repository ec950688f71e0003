"""Experiment pages: the list (search, sort, archived or not, paging) and one experiment
with its runs and recurring runs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api_server.services import ListQuery

from . import lists
from .routing import PageRoute, pages_of, services_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)

EXPERIMENT_SORTS = ("display_name", "created_at", "last_run_created_at")
# Runs and recurring runs shown on an experiment's page; the runs list has the rest.
PREVIEW_SIZE = 20


@router.get("/experiments", name="ui_experiments")
def experiments_list(request: Request) -> Response:
    params = dict(request.query_params)
    sort = lists.parse_sort(params.get("sort"), EXPERIMENT_SORTS, "-created_at")
    predicates = lists.common_predicates(params, archivable=True)
    page = services_of(request).experiments.list(
        lists.list_query(params, predicates, sort), namespace=None
    )
    return pages_of(request).render(
        request,
        "experiments_list.html",
        title="Experiments",
        nav="experiments",
        page=page,
        params=params,
        archived=lists.is_archive_view(params),
        sort=sort,
        **lists.paging_links("/experiments", params, page.next_page_token, sort),
    )


@router.get("/experiments/{experiment_id}", name="ui_experiment")
def experiment_page(request: Request, experiment_id: str) -> Response:
    services = services_of(request)
    experiment = services.experiments.get(experiment_id)
    runs = services.runs.list(
        ListQuery(sort_by="created_at desc", page_size=PREVIEW_SIZE),
        experiment_id=experiment_id,
        namespace=None,
    )
    recurring = services.recurring_runs.list(
        ListQuery(sort_by="created_at desc", page_size=PREVIEW_SIZE),
        experiment_id=experiment_id,
        namespace=None,
    )
    return pages_of(request).render(
        request,
        "experiment.html",
        title=experiment.display_name,
        nav="experiments",
        experiment=experiment,
        runs=runs,
        recurring=recurring,
    )
