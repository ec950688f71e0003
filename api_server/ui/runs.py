"""Run pages: the runs list (filters, sort, keyset paging) and a run's detail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api_server.services import ListQuery
from domain.errors import InvalidArgument
from domain.states import RuntimeState, StorageState

from . import lists
from .routing import PageRoute, pages_of, services_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)

RUN_SORTS = ("created_at", "display_name", "state", "finished_at", "scheduled_at")
RUN_STATES = [s.value for s in RuntimeState if s is not RuntimeState.RUNTIME_STATE_UNSPECIFIED]
# How many experiments and pipelines the filter drop-downs offer (the largest page).
CHOICES_LIMIT = 200


def run_filter(params: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """KFP predicates for the list form's fields, and the parsed values for the form."""
    tz = lists.parse_tz(params.get("tz"))
    after = lists.parse_local_time("created_after", params.get("created_after"), tz)
    before = lists.parse_local_time("created_before", params.get("created_before"), tz)
    archived = params.get("archived") == "1"
    predicates = [
        lists.predicate(
            "storage_state",
            "EQUALS",
            string_value=(StorageState.ARCHIVED if archived else StorageState.AVAILABLE).value,
        )
    ]
    if params.get("name"):
        predicates.append(
            lists.predicate("display_name", "IS_SUBSTRING", string_value=params["name"])
        )
    state = params.get("state") or ""
    if state:
        if state not in RUN_STATES:
            raise InvalidArgument(f"state: unknown state {state!r}")
        predicates.append(lists.predicate("state", "EQUALS", string_value=state))
    for key in ("pipeline_id", "recurring_run_id"):
        if params.get(key):
            predicates.append(lists.predicate(key, "EQUALS", string_value=params[key]))
    if after is not None:
        predicates.append(
            lists.predicate(
                "created_at", "GREATER_THAN_EQUALS", timestamp_value=lists.rfc3339(after)
            )
        )
    if before is not None:
        predicates.append(
            lists.predicate("created_at", "LESS_THAN_EQUALS", timestamp_value=lists.rfc3339(before))
        )
    return predicates, {"archived": archived, "state": state}


@router.get("/", name="ui_home")
def home(request: Request) -> Response:
    return runs_list(request)


@router.get("/runs", name="ui_runs")
def runs_list(request: Request) -> Response:
    services = services_of(request)
    params = dict(request.query_params)
    predicates, parsed = run_filter(params)
    sort = lists.parse_sort(params.get("sort"), RUN_SORTS, "-created_at")
    page_size = lists.parse_page_size(params.get("page_size"))
    query = ListQuery(
        filter=lists.filter_json(predicates),
        sort_by=sort.sort_by,
        page_size=page_size,
        page_token=params.get("page_token") or None,
    )
    experiment_id = params.get("experiment_id") or None
    page = services.runs.list(query, experiment_id=experiment_id, namespace=None)
    experiments = services.experiments.list(
        ListQuery(sort_by="display_name", page_size=CHOICES_LIMIT), namespace=None
    ).items
    pipelines = services.pipelines.list(
        ListQuery(sort_by="display_name", page_size=CHOICES_LIMIT), namespace=None
    ).items
    known_experiments = {e.experiment_id: e.display_name for e in experiments}
    missing = {r.experiment_id for r in page.items} - known_experiments.keys()
    experiment_names = {**known_experiments, **lists.experiment_names(services, missing)}
    known_pipelines = {p.pipeline_id: p.display_name for p in pipelines}
    missing = {r.pipeline_id for r in page.items if r.pipeline_id} - known_pipelines.keys()
    pipeline_names = {**known_pipelines, **lists.pipeline_names(services, missing)}
    base = {k: v for k, v in params.items() if k != "page_token"}
    return pages_of(request).render(
        request,
        "runs_list.html",
        title="Runs",
        nav="runs",
        page=page,
        params=params,
        parsed=parsed,
        sort=sort,
        sorts=RUN_SORTS,
        states=RUN_STATES,
        page_size=page_size,
        page_sizes=lists.PAGE_SIZES,
        experiments=experiments,
        pipelines=pipelines,
        experiment_names=experiment_names,
        pipeline_names=pipeline_names,
        next_url=lists.url_with("/runs", base, page_token=page.next_page_token)
        if page.next_page_token
        else None,
        first_url=lists.url_with("/runs", base) if params.get("page_token") else None,
        sort_url=lambda key: lists.url_with(
            "/runs", base, sort=key if sort.key == key and sort.descending else f"-{key}"
        ),
    )
