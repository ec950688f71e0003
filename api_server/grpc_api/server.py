"""The gRPC server: our v2beta1 servicers, ``grpc.health.v1`` and server reflection, on a
thread pool over the same service layer as REST.

Synchronous grpcio, because the services are synchronous (SQLAlchemy sessions in threads):
each call runs on a pool thread, as a REST handler runs on Starlette's.
"""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from api_server.grpc_api.errors import ErrorTranslation
from api_server.grpc_api.generated import (
    experiment_pb2,
    experiment_pb2_grpc,
    healthz_pb2,
    healthz_pb2_grpc,
    pipeline_pb2,
    pipeline_pb2_grpc,
    recurring_run_pb2,
    recurring_run_pb2_grpc,
    report_pb2,
    report_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
)
from api_server.grpc_api.servicers.experiments import ExperimentServicer
from api_server.grpc_api.servicers.healthz import HealthzServicer
from api_server.grpc_api.servicers.pipelines import PipelineServicer
from api_server.grpc_api.servicers.recurring_runs import RecurringRunServicer
from api_server.grpc_api.servicers.report import ReportServicer
from api_server.grpc_api.servicers.runs import RunServicer
from api_server.services import Services

logger = logging.getLogger(__name__)

# Full names of the services we serve, as health checks and reflection list them.
V2BETA1_SERVICES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (pipeline_pb2, "PipelineService"),
        (experiment_pb2, "ExperimentService"),
        (run_pb2, "RunService"),
        (recurring_run_pb2, "RecurringRunService"),
        (healthz_pb2, "HealthzService"),
        (report_pb2, "ReportService"),
    )
)


class GrpcServer:
    """A bound, not yet started gRPC server; ``port`` is the port actually bound."""

    def __init__(self, services: Services, host: str, port: int, max_workers: int) -> None:
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
            interceptors=[ErrorTranslation()],
        )
        pipeline_pb2_grpc.add_PipelineServiceServicer_to_server(
            PipelineServicer(services.pipelines), self._server
        )
        experiment_pb2_grpc.add_ExperimentServiceServicer_to_server(
            ExperimentServicer(services.experiments), self._server
        )
        run_pb2_grpc.add_RunServiceServicer_to_server(RunServicer(services.runs), self._server)
        recurring_run_pb2_grpc.add_RecurringRunServiceServicer_to_server(
            RecurringRunServicer(services.recurring_runs), self._server
        )
        healthz_pb2_grpc.add_HealthzServiceServicer_to_server(
            HealthzServicer(services.db), self._server
        )
        report_pb2_grpc.add_ReportServiceServicer_to_server(ReportServicer(), self._server)

        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (
                *V2BETA1_SERVICES,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self._server,
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # grpcio binds here, so a taken port fails before anything starts.
        self.port = self._server.add_insecure_port(address)
        self.host = host

    def start(self) -> None:
        self._server.start()
        for name in ("", *V2BETA1_SERVICES):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info("gRPC server started", extra={"port": self.port})

    def stop(self, grace_seconds: float) -> None:
        """Report NOT_SERVING, refuse new calls, and let calls in flight finish."""
        self._health.enter_graceful_shutdown()
        self._server.stop(grace_seconds).wait()
        logger.info("gRPC server stopped", extra={"port": self.port})


def build_grpc_server(services: Services, host: str, port: int, max_workers: int) -> GrpcServer:
    return GrpcServer(services, host, port, max_workers)
