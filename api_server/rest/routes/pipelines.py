from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api_server.rest.dependencies import Pipelines
from api_server.rest.params import ListParams, OptionalText, parse_bool
from api_server.rest.uploads import read_upload
from api_server.rest.wire.base import empty_response, json_response
from api_server.rest.wire.pipelines import (
    CreatePipelineAndVersionIn,
    ListPipelinesOut,
    ListPipelineVersionsOut,
    PipelineIn,
    PipelineOut,
    PipelineVersionIn,
    PipelineVersionOut,
)
from api_server.services import PipelineInput, VersionInput, parse_tags_param

router = APIRouter(tags=["PipelineService"])


@router.post("/pipelines/upload", response_model=PipelineOut, operation_id="upload_pipeline")
async def upload_pipeline(
    request: Request,
    pipelines: Pipelines,
    name: OptionalText = None,
    display_name: OptionalText = None,
    description: OptionalText = None,
    namespace: OptionalText = None,
    tags: OptionalText = None,
) -> Response:
    content, filename = await read_upload(request, pipelines.ctx.max_upload_bytes)
    data = PipelineInput(name, display_name, description, namespace, parse_tags_param(tags))
    created = await run_in_threadpool(pipelines.upload, content, filename, data)
    return json_response(PipelineOut.from_domain(created))


@router.post(
    "/pipelines/upload_version",
    response_model=PipelineVersionOut,
    operation_id="upload_pipeline_version",
)
async def upload_pipeline_version(
    request: Request,
    pipelines: Pipelines,
    name: OptionalText = None,
    display_name: OptionalText = None,
    pipelineid: OptionalText = None,
    description: OptionalText = None,
    tags: OptionalText = None,
    code_source_url: OptionalText = None,
) -> Response:
    content, filename = await read_upload(request, pipelines.ctx.max_upload_bytes)
    data = VersionInput(
        name=name,
        display_name=display_name,
        description=description,
        code_source_url=code_source_url,
        tags=parse_tags_param(tags),
    )
    created = await run_in_threadpool(pipelines.upload_version, content, filename, pipelineid, data)
    return json_response(PipelineVersionOut.from_domain(created))


@router.post(
    "/pipelines/create",
    response_model=PipelineOut,
    operation_id="pipeline_service_create_pipeline_and_version",
)
def create_pipeline_and_version(body: CreatePipelineAndVersionIn, pipelines: Pipelines) -> Response:
    created = pipelines.create_with_version(
        body.pipeline.to_input(), body.pipeline_version.to_input()
    )
    return json_response(PipelineOut.from_domain(created))


@router.post(
    "/pipelines", response_model=PipelineOut, operation_id="pipeline_service_create_pipeline"
)
def create_pipeline(body: PipelineIn, pipelines: Pipelines) -> Response:
    return json_response(PipelineOut.from_domain(pipelines.create(body.to_input())))


@router.get(
    "/pipelines/names/{name:path}",
    response_model=PipelineOut,
    operation_id="pipeline_service_get_pipeline_by_name",
)
def get_pipeline_by_name(
    name: str, pipelines: Pipelines, namespace: OptionalText = None
) -> Response:
    return json_response(PipelineOut.from_domain(pipelines.get_by_name(name, namespace)))


@router.get(
    "/pipelines", response_model=ListPipelinesOut, operation_id="pipeline_service_list_pipelines"
)
def list_pipelines(
    query: ListParams, pipelines: Pipelines, namespace: OptionalText = None
) -> Response:
    return json_response(ListPipelinesOut.from_page(pipelines.list(query, namespace or None)))


@router.get(
    "/pipelines/{pipeline_id}",
    response_model=PipelineOut,
    operation_id="pipeline_service_get_pipeline",
)
def get_pipeline(pipeline_id: str, pipelines: Pipelines) -> Response:
    return json_response(PipelineOut.from_domain(pipelines.get(pipeline_id)))


@router.patch(
    "/pipelines/{pipeline_id}",
    response_model=PipelineOut,
    operation_id="pipeline_service_update_pipeline",
)
def update_pipeline(pipeline_id: str, body: PipelineIn, pipelines: Pipelines) -> Response:
    return json_response(PipelineOut.from_domain(pipelines.update(pipeline_id, body.to_input())))


@router.delete("/pipelines/{pipeline_id}", operation_id="pipeline_service_delete_pipeline")
def delete_pipeline(
    pipeline_id: str, pipelines: Pipelines, cascade: OptionalText = None
) -> Response:
    pipelines.delete(pipeline_id, cascade=parse_bool("cascade", cascade))
    return empty_response()


@router.post(
    "/pipelines/{pipeline_id}/versions",
    response_model=PipelineVersionOut,
    operation_id="pipeline_service_create_pipeline_version",
)
def create_pipeline_version(
    pipeline_id: str, body: PipelineVersionIn, pipelines: Pipelines
) -> Response:
    created = pipelines.create_version(pipeline_id, body.to_input())
    return json_response(PipelineVersionOut.from_domain(created))


@router.get(
    "/pipelines/{pipeline_id}/versions",
    response_model=ListPipelineVersionsOut,
    operation_id="pipeline_service_list_pipeline_versions",
)
def list_pipeline_versions(pipeline_id: str, query: ListParams, pipelines: Pipelines) -> Response:
    return json_response(
        ListPipelineVersionsOut.from_page(pipelines.list_versions(pipeline_id, query))
    )


@router.get(
    "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
    response_model=PipelineVersionOut,
    operation_id="pipeline_service_get_pipeline_version",
)
def get_pipeline_version(
    pipeline_id: str, pipeline_version_id: str, pipelines: Pipelines
) -> Response:
    return json_response(
        PipelineVersionOut.from_domain(pipelines.get_version(pipeline_id, pipeline_version_id))
    )


@router.patch(
    "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
    response_model=PipelineVersionOut,
    operation_id="pipeline_service_update_pipeline_version",
)
def update_pipeline_version(
    pipeline_id: str, pipeline_version_id: str, body: PipelineVersionIn, pipelines: Pipelines
) -> Response:
    updated = pipelines.update_version(pipeline_id, pipeline_version_id, body.to_input())
    return json_response(PipelineVersionOut.from_domain(updated))


@router.delete(
    "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
    operation_id="pipeline_service_delete_pipeline_version",
)
def delete_pipeline_version(
    pipeline_id: str, pipeline_version_id: str, pipelines: Pipelines
) -> Response:
    pipelines.delete_version(pipeline_id, pipeline_version_id)
    return empty_response()
