"""The committed protobuf/gRPC modules of the metadata store match their .proto sources."""

from __future__ import annotations

from pathlib import Path

from metadata_store.proto import generate


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    fresh = generate.generate(tmp_path)
    assert fresh, "protoc produced nothing"
    stale = []
    for path in fresh:
        committed = generate.PROTO_DIR / path.name
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(path.name)
    assert stale == [], f"regenerate with `make protos`: {stale}"


def test_the_service_keeps_ml_metadata_names() -> None:
    from metadata_store.proto import metadata_store_service_pb2 as svc

    service = svc.DESCRIPTOR.services_by_name["MetadataStoreService"]
    assert service.full_name == "ml_metadata.MetadataStoreService"
    assert len(service.methods) == 52
    put = svc.PutExecutionRequest.DESCRIPTOR
    assert {f.name: f.number for f in put.fields} == {
        "execution": 1,
        "artifact_event_pairs": 2,
        "contexts": 3,
        "options": 4,
        "transaction_options": 5,
    }
