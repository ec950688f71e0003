"""Build the API server: storage, services and the FastAPI app, wired from settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from api_server.backends import PendingBackend, RunBackend
from api_server.grpc_api.server import GrpcServer
from api_server.rest.errors import install_error_handlers
from api_server.rest.observability import Metrics, ObservabilityMiddleware
from api_server.rest.prefix import PrefixAlias
from api_server.rest.routes import v1alpha1_routers, v2beta1_routers
from api_server.services import (
    ExperimentService,
    PipelineService,
    RecurringRunService,
    RunService,
    ScheduleStateService,
    ServiceContext,
    Services,
)
from api_server.services.task_files import ArtifactReader, LocalArtifactReader, TaskFileService
from api_server.storage import Database, SpecStore, build_engine
from api_server.ui import install_ui
from domain.settings import Settings
from domain.version import VERSION

logger = logging.getLogger(__name__)

API_PREFIX = "/apis/v2beta1"
LOG_PREFIX = "/apis/v1alpha1"
# kfp.Client users sometimes point at an in-cluster style host ending in /pipeline.
ALTERNATE_PREFIX = "/pipeline"
# As long as uvicorn gives REST requests in flight (timeout_graceful_shutdown).
GRPC_GRACE_SECONDS = 5.0


def build_database(settings: Settings) -> Database:
    engine = build_engine(
        settings.effective_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        busy_timeout_ms=settings.db_busy_timeout_ms,
        pool_pre_ping=settings.db_pool_pre_ping,
    )
    return Database(engine)


def build_services(
    settings: Settings,
    db: Database,
    backend: RunBackend | None = None,
    artifact_reader: ArtifactReader | None = None,
) -> Services:
    """The service layer over ``db``; runs go to ``backend`` (default: none, runs stay
    PENDING); artifacts outside the local folder are read through ``artifact_reader``."""
    ctx = ServiceContext(
        db=db,
        specs=SpecStore(),
        page_token_secret=settings.page_token_secret.encode(),
        max_upload_bytes=settings.max_upload_bytes,
        package_url_timeout_seconds=settings.package_url_timeout_seconds,
        schedule_zone=ZoneInfo(settings.schedule_timezone),
    )
    backend = backend or PendingBackend()
    pipelines = PipelineService(ctx)
    experiments = ExperimentService(ctx, backend)
    runs = RunService(ctx, backend, experiments, pipelines)
    recurring_runs = RecurringRunService(ctx, experiments, pipelines)
    task_files = TaskFileService(
        ctx,
        LocalArtifactReader(artifact_reader, roots=[settings.artifact_dir]),
        max_read_bytes=settings.max_artifact_read_bytes,
    )
    schedules = ScheduleStateService(ctx)
    return Services(db, pipelines, experiments, runs, recurring_runs, task_files, schedules)


class BackgroundComponent(Protocol):
    """Something that runs beside the API in the same process (the schedule loop): started
    after the backend, stopped before it, its Prometheus series served on /metrics."""

    registry: CollectorRegistry

    def start(self) -> None: ...

    def stop(self) -> None: ...


def build_app(
    settings: Settings,
    services: Services,
    grpc_server: GrpcServer | None = None,
    background: Sequence[BackgroundComponent] = (),
) -> FastAPI:
    """The REST app: v2beta1 under /apis/v2beta1 and /pipeline/apis/v2beta1, plus /metrics,
    and the web UI at /. A ``grpc_server`` given here serves and stops with it (gRPC first
    out, so no call arrives after the backend and database are gone); ``background``
    components start after the backend and stop before it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.runs.backend.start(services.runs)
        if grpc_server is not None:
            grpc_server.start()
        for component in background:
            component.start()
        try:
            yield
        finally:
            if grpc_server is not None:
                grpc_server.stop(GRPC_GRACE_SECONDS)
            for component in reversed(background):
                component.stop()
            services.runs.backend.stop()
            services.db.dispose()

    app = FastAPI(
        title="Headrace",
        version=VERSION,
        description="Kubeflow Pipelines v2beta1 API",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.services = services
    install_error_handlers(app)
    for router in v2beta1_routers():
        app.include_router(router, prefix=API_PREFIX)
    for router in v1alpha1_routers():
        app.include_router(router, prefix=LOG_PREFIX)
    registries = [component.registry for component in background]
    backend_registry = getattr(services.runs.backend, "registry", None)
    if isinstance(backend_registry, CollectorRegistry):
        registries.append(backend_registry)  # the embedded engine's series
    metrics = Metrics(extra_registries=registries)
    app.add_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)
    install_ui(app)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, access_log=settings.access_log)
    app.add_middleware(PrefixAlias, alias=ALTERNATE_PREFIX, target=API_PREFIX)
    return app
