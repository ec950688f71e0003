"""The committed gRPC code matches what ``make protos`` writes from the committed protos."""

from __future__ import annotations

from pathlib import Path

from api_server.grpc_api import codegen


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    fresh = codegen.generate(tmp_path)
    committed = codegen.generated_files(codegen.GENERATED_DIR)
    assert [p.name for p in committed] == [p.name for p in fresh], (
        "the set of generated files differs; run `make protos` and commit the result"
    )
    stale = [
        p.name for p in fresh if p.read_bytes() != (codegen.GENERATED_DIR / p.name).read_bytes()
    ]
    assert not stale, f"stale generated code {stale}; run `make protos` and commit the result"


def test_every_v2beta1_service_is_generated() -> None:
    from google.protobuf import descriptor_pool

    import api_server.grpc_api.generated.experiment_pb2
    import api_server.grpc_api.generated.healthz_pb2
    import api_server.grpc_api.generated.pipeline_pb2
    import api_server.grpc_api.generated.recurring_run_pb2
    import api_server.grpc_api.generated.report_pb2
    import api_server.grpc_api.generated.run_pb2  # noqa: F401

    pool = descriptor_pool.Default()
    package = "kubeflow.pipelines.backend.api.v2beta1"
    for service in (
        "PipelineService",
        "ExperimentService",
        "RunService",
        "RecurringRunService",
        "HealthzService",
        "ReportService",
    ):
        assert pool.FindServiceByName(f"{package}.{service}").methods, service
