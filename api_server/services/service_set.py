"""The services one API server process runs, built once and shared by REST and gRPC."""

from __future__ import annotations

from dataclasses import dataclass

from api_server.storage import Database

from .experiments import ExperimentService
from .pipelines import PipelineService
from .recurring_runs import RecurringRunService
from .runs import RunService
from .schedules import ScheduleStateService
from .task_files import TaskFileService


@dataclass(frozen=True)
class Services:
    db: Database
    pipelines: PipelineService
    experiments: ExperimentService
    runs: RunService
    recurring_runs: RecurringRunService
    task_files: TaskFileService
    schedules: ScheduleStateService
