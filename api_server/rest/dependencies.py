"""How handlers reach the services the composition root built (kept on ``app.state``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api_server.services import (
    ExperimentService,
    PipelineService,
    RecurringRunService,
    RunService,
    ScheduleStateService,
)
from api_server.storage import Database


@dataclass(frozen=True)
class Services:
    db: Database
    pipelines: PipelineService
    experiments: ExperimentService
    runs: RunService
    recurring_runs: RecurringRunService
    schedules: ScheduleStateService | None = None


# The dependencies below are ``async def`` although they do no I/O: FastAPI runs a sync
# dependency in the thread pool, which would cost a thread hop per dependency per request.


def services(request: Request) -> Services:
    return request.app.state.services


async def _pipelines(request: Request) -> PipelineService:
    return services(request).pipelines


async def _experiments(request: Request) -> ExperimentService:
    return services(request).experiments


async def _runs(request: Request) -> RunService:
    return services(request).runs


async def _recurring_runs(request: Request) -> RecurringRunService:
    return services(request).recurring_runs


Pipelines = Annotated[PipelineService, Depends(_pipelines)]
Experiments = Annotated[ExperimentService, Depends(_experiments)]
Runs = Annotated[RunService, Depends(_runs)]
RecurringRuns = Annotated[RecurringRunService, Depends(_recurring_runs)]
