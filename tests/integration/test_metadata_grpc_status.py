"""Status codes of the metadata store's gRPC service: unsupported requests say so."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from metadata_store.proto import metadata_store_pb2 as pb
from metadata_store.proto import metadata_store_service_pb2 as svc
from metadata_store.proto import metadata_store_service_pb2_grpc as svc_grpc


@pytest.fixture
def channel(mlmd_port: int) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{mlmd_port}") as opened:
        yield opened


def _status(call: object, request: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=10)  # type: ignore[operator]
    error = caught.value
    return error.code(), error.details()  # type: ignore[attr-defined]


def test_unsupported_parts_of_requests_are_refused_with_a_reason(channel: grpc.Channel) -> None:
    stub = svc_grpc.MetadataStoreServiceStub(channel)
    legacy = svc.GetLineageGraphRequest()
    legacy.options.stop_conditions.boundary_artifacts = "uri LIKE '%x'"
    code, details = _status(stub.GetLineageGraph, legacy)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "boundary_artifacts" in details

    filtered = svc.GetArtifactsRequest(
        options=pb.ListOperationOptions(filter_query="events_a.type = 1")
    )
    code, details = _status(stub.GetArtifacts, filtered)
    assert (code, "unsupported field" in details) == (grpc.StatusCode.INVALID_ARGUMENT, True)

    type_id = stub.PutArtifactType(
        svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name="Data")), timeout=10
    ).type_id
    with_metadata = pb.Artifact(type_id=type_id)
    with_metadata.system_metadata.type_url = "x"
    code, details = _status(stub.PutArtifacts, svc.PutArtifactsRequest(artifacts=[with_metadata]))
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "artifacts[0]: system_metadata is not supported",
    )

    code, details = _status(stub.GetArtifactType, svc.GetArtifactTypeRequest(type_name="nope"))
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "no artifact type named 'nope'")


def test_an_rpc_outside_the_service_is_unimplemented(channel: grpc.Channel) -> None:
    call = channel.unary_unary(
        "/ml_metadata.MetadataStoreService/DeleteArtifacts",
        request_serializer=lambda message: b"",
        response_deserializer=lambda data: data,
    )
    code, _ = _status(call, object())
    assert code == grpc.StatusCode.UNIMPLEMENTED


def test_an_empty_id_list_answers_empty(channel: grpc.Channel) -> None:
    stub = svc_grpc.MetadataStoreServiceStub(channel)
    response = stub.GetExecutionsByID(svc.GetExecutionsByIDRequest(), timeout=10)
    assert list(response.executions) == []
