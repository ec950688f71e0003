from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from api_server.grpc_api.generated import pipeline_pb2 as pb
from api_server.grpc_api.generated import pipeline_pb2_grpc
from api_server.grpc_api.messages import (
    list_query,
    map_of,
    set_struct,
    set_time,
    struct_of,
    text,
)
from api_server.services import PipelineInput, PipelineService, VersionInput
from domain.resources import Pipeline, PipelineVersion

EMPTY = empty_pb2.Empty()


def pipeline_message(p: Pipeline) -> pb.Pipeline:
    message = pb.Pipeline(
        pipeline_id=p.pipeline_id,
        name=p.name,
        display_name=p.display_name,
        description=p.description,
        namespace=p.namespace,
        tags=p.tags or {},
    )
    set_time(message.created_at, p.created_at)
    return message


def version_message(v: PipelineVersion) -> pb.PipelineVersion:
    message = pb.PipelineVersion(
        pipeline_id=v.pipeline_id,
        pipeline_version_id=v.pipeline_version_id,
        name=v.name,
        display_name=v.display_name,
        description=v.description,
        code_source_url=v.code_source_url or "",
        tags=v.tags or {},
    )
    set_time(message.created_at, v.created_at)
    if v.package_url:
        message.package_url.pipeline_url = v.package_url
    set_struct(message.pipeline_spec, v.pipeline_spec)
    return message


def pipeline_input(p: pb.Pipeline) -> PipelineInput:
    return PipelineInput(
        name=text(p.name),
        display_name=text(p.display_name),
        description=text(p.description),
        namespace=text(p.namespace),
        tags=map_of(p.tags),
    )


def version_input(v: pb.PipelineVersion) -> VersionInput:
    return VersionInput(
        name=text(v.name),
        display_name=text(v.display_name),
        description=text(v.description),
        package_url=text(v.package_url.pipeline_url),
        pipeline_spec=struct_of(v, "pipeline_spec"),
        code_source_url=text(v.code_source_url),
        tags=map_of(v.tags),
    )


class PipelineServicer(pipeline_pb2_grpc.PipelineServiceServicer):
    """Everything but uploads, which are multipart HTTP only (as upstream)."""

    def __init__(self, pipelines: PipelineService) -> None:
        self.pipelines = pipelines

    def CreatePipeline(self, request: pb.CreatePipelineRequest, context: Any) -> pb.Pipeline:
        return pipeline_message(self.pipelines.create(pipeline_input(request.pipeline)))

    def GetPipeline(self, request: pb.GetPipelineRequest, context: Any) -> pb.Pipeline:
        return pipeline_message(self.pipelines.get(request.pipeline_id))

    def GetPipelineByName(self, request: pb.GetPipelineByNameRequest, context: Any) -> pb.Pipeline:
        found = self.pipelines.get_by_name(request.name, text(request.namespace))
        return pipeline_message(found)

    def ListPipelines(
        self, request: pb.ListPipelinesRequest, context: Any
    ) -> pb.ListPipelinesResponse:
        page = self.pipelines.list(list_query(request), text(request.namespace))
        return pb.ListPipelinesResponse(
            pipelines=[pipeline_message(p) for p in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    def DeletePipeline(self, request: pb.DeletePipelineRequest, context: Any) -> empty_pb2.Empty:
        self.pipelines.delete(request.pipeline_id, cascade=request.cascade)
        return EMPTY

    def CreatePipelineAndVersion(
        self, request: pb.CreatePipelineAndVersionRequest, context: Any
    ) -> pb.Pipeline:
        created = self.pipelines.create_with_version(
            pipeline_input(request.pipeline), version_input(request.pipeline_version)
        )
        return pipeline_message(created)

    def CreatePipelineVersion(
        self, request: pb.CreatePipelineVersionRequest, context: Any
    ) -> pb.PipelineVersion:
        created = self.pipelines.create_version(
            request.pipeline_id, version_input(request.pipeline_version)
        )
        return version_message(created)

    def GetPipelineVersion(
        self, request: pb.GetPipelineVersionRequest, context: Any
    ) -> pb.PipelineVersion:
        found = self.pipelines.get_version(request.pipeline_id, request.pipeline_version_id)
        return version_message(found)

    def ListPipelineVersions(
        self, request: pb.ListPipelineVersionsRequest, context: Any
    ) -> pb.ListPipelineVersionsResponse:
        page = self.pipelines.list_versions(request.pipeline_id, list_query(request))
        return pb.ListPipelineVersionsResponse(
            pipeline_versions=[version_message(v) for v in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    def DeletePipelineVersion(
        self, request: pb.DeletePipelineVersionRequest, context: Any
    ) -> empty_pb2.Empty:
        self.pipelines.delete_version(request.pipeline_id, request.pipeline_version_id)
        return EMPTY

    def UpdatePipeline(self, request: pb.UpdatePipelineRequest, context: Any) -> pb.Pipeline:
        updated = self.pipelines.update(
            request.pipeline.pipeline_id, pipeline_input(request.pipeline)
        )
        return pipeline_message(updated)

    def UpdatePipelineVersion(
        self, request: pb.UpdatePipelineVersionRequest, context: Any
    ) -> pb.PipelineVersion:
        v = request.pipeline_version
        updated = self.pipelines.update_version(
            v.pipeline_id, v.pipeline_version_id, version_input(v)
        )
        return version_message(updated)
