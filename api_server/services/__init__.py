"""The service layer: all behaviour, called by REST and gRPC alike."""

from .context import ListQuery, ServiceContext
from .experiments import ExperimentService
from .pipelines import PipelineInput, PipelineService, VersionInput, parse_tags_param
from .recurring_runs import RecurringRunInput, RecurringRunService, Trigger
from .runs import PipelineSource, RunInput, RunService
from .schedules import ScheduleStateService
from .service_set import Services

__all__ = [
    "ExperimentService",
    "ListQuery",
    "PipelineInput",
    "PipelineService",
    "PipelineSource",
    "RecurringRunInput",
    "RecurringRunService",
    "RunInput",
    "RunService",
    "ScheduleStateService",
    "ServiceContext",
    "Services",
    "Trigger",
    "VersionInput",
    "parse_tags_param",
]
