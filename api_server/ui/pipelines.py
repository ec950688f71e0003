"""Pipeline pages: the list (search, sort, paging), a pipeline with its versions and a
version's graph, and the create-run form of a version."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api_server.services import ListQuery, PipelineSource, RunInput
from domain.errors import InvalidArgument
from domain.resources import PipelineVersion

from . import forms, graph, lists
from .routing import PageRoute, UiServices, pages_of, services_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PIPELINE_SORTS = ("display_name", "name", "created_at")
VERSION_SORTS = ("display_name", "created_at")
# "runtime_config.parameters['n']: must be ..." -> the field the message is about.
_PARAMETER_MESSAGE = re.compile(r"^runtime_config\.parameters\[?'([^']+)'\]?:?\s*(.*)$")


@router.get("/pipelines", name="ui_pipelines")
def pipelines_list(request: Request) -> Response:
    params = dict(request.query_params)
    sort = lists.parse_sort(params.get("sort"), PIPELINE_SORTS, "-created_at")
    predicates = lists.common_predicates(params, archivable=False)
    page = services_of(request).pipelines.list(
        lists.list_query(params, predicates, sort), namespace=None
    )
    return pages_of(request).render(
        request,
        "pipelines_list.html",
        title="Pipelines",
        nav="pipelines",
        page=page,
        params=params,
        sort=sort,
        **lists.paging_links("/pipelines", params, page.next_page_token, sort),
    )


def _versions_page(services: UiServices, pipeline_id: str, params: dict[str, str]) -> Any:
    sort = lists.parse_sort(params.get("sort"), VERSION_SORTS, "-created_at")
    page = services.pipelines.list_versions(
        pipeline_id,
        ListQuery(
            sort_by=sort.sort_by,
            page_size=lists.parse_page_size(params.get("page_size")),
            page_token=params.get("page_token") or None,
        ),
    )
    return page, sort


@router.get("/pipelines/{pipeline_id}", name="ui_pipeline")
def pipeline_page(request: Request, pipeline_id: str) -> Response:
    services = services_of(request)
    pipeline = services.pipelines.get(pipeline_id)
    params = dict(request.query_params)
    versions, sort = _versions_page(services, pipeline_id, params)
    shown = None
    if versions.items:
        latest = versions.items[0]
        shown = services.pipelines.get_version(pipeline_id, latest.pipeline_version_id)
    return _render_version(
        request,
        "pipeline.html",
        pipeline=pipeline,
        version=shown,
        versions=versions,
        params=params,
        sort=sort,
        **lists.paging_links(f"/pipelines/{pipeline_id}", params, versions.next_page_token, sort),
    )


@router.get("/pipelines/{pipeline_id}/versions/{version_id}", name="ui_pipeline_version")
def version_page(request: Request, pipeline_id: str, version_id: str) -> Response:
    services = services_of(request)
    pipeline = services.pipelines.get(pipeline_id)
    version = services.pipelines.get_version(pipeline_id, version_id)
    return _render_version(request, "version.html", pipeline=pipeline, version=version)


def _render_version(
    request: Request, template: str, *, version: PipelineVersion | None, **context: Any
) -> Response:
    dags = graph.pipeline_graph(version.pipeline_spec or {}) if version else []
    return pages_of(request).render(
        request,
        template,
        title=context["pipeline"].display_name,
        nav="pipelines",
        version=version,
        dags=dags,
        statuses={},
        node_view=lambda status: {"state": "", "tone": "muted", "text": ""},
        inputs=forms.run_form_fields(version.pipeline_spec or {}) if version else [],
        **context,
    )


def _form_context(
    request: Request, pipeline_id: str, version_id: str
) -> tuple[dict[str, Any], list[forms.FormField]]:
    services = services_of(request)
    pipeline = services.pipelines.get(pipeline_id)
    version = services.pipelines.get_version(pipeline_id, version_id)
    fields = forms.run_form_fields(version.pipeline_spec or {})
    experiments = services.experiments.list(
        ListQuery(
            filter=lists.filter_json(
                [lists.predicate("storage_state", "EQUALS", string_value="AVAILABLE")]
            ),
            sort_by="display_name",
            page_size=200,
        ),
        namespace=None,
    ).items
    context = {
        "title": f"New run of {pipeline.display_name}",
        "nav": "pipelines",
        "pipeline": pipeline,
        "version": version,
        "fields": fields,
        "experiments": experiments,
    }
    return context, fields


@router.get("/pipelines/{pipeline_id}/versions/{version_id}/runs/new", name="ui_new_run")
def new_run_form(request: Request, pipeline_id: str, version_id: str) -> Response:
    context, _ = _form_context(request, pipeline_id, version_id)
    form = {"display_name": f"Run of {context['pipeline'].display_name}"}
    if request.query_params.get("experiment_id"):
        form["experiment_id"] = request.query_params["experiment_id"]
    return pages_of(request).render(
        request, "new_run.html", form=form, errors={}, message=None, **context
    )


@router.post("/pipelines/{pipeline_id}/versions/{version_id}/runs/new")
async def create_run(request: Request, pipeline_id: str, version_id: str) -> Response:
    submitted = await request.form()
    form = {key: str(value) for key, value in submitted.items() if isinstance(value, str)}
    return await _create_run(request, pipeline_id, version_id, form)


async def _create_run(
    request: Request, pipeline_id: str, version_id: str, form: dict[str, str]
) -> Response:
    context, fields = await run_in_threadpool(_form_context, request, pipeline_id, version_id)
    parameters, errors = forms.parse_run_form(fields, form)
    name = form.get("display_name", "").strip()
    if not name:
        errors["display_name"] = "required: give the run a name"
    message = None
    if not errors:
        data = RunInput(
            display_name=name,
            description=form.get("description", ""),
            experiment_id=form.get("experiment_id") or None,
            source=PipelineSource(pipeline_id=pipeline_id, pipeline_version_id=version_id),
            runtime_config={"parameters": parameters} if parameters else None,
        )
        try:
            run = await run_in_threadpool(services_of(request).runs.create, data)
        except InvalidArgument as exc:
            match = _PARAMETER_MESSAGE.match(exc.message)
            if match and match.group(1) in {f.name for f in fields}:
                errors[match.group(1)] = match.group(2)
            elif exc.message.startswith("display_name"):
                errors["display_name"] = exc.message.split(":", 1)[-1].strip()
            else:
                message = exc.message
        else:
            return RedirectResponse(f"/runs/{run.run_id}", status_code=303)
    return pages_of(request).render(
        request,
        "new_run.html",
        status_code=400,
        form=form,
        errors=errors,
        message=message or "The run was not created: correct the fields marked below.",
        **context,
    )
