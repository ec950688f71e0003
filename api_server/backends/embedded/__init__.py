"""The embedded engine: runs pipelines on this machine as local processes.

``build_embedded_engine`` assembles it from settings; the composition root hands in the
cache and the lineage recorder (other components), so this package imports neither.
"""

from __future__ import annotations

from domain.settings import Settings

from .artifact_store import ArtifactStore
from .engine import EmbeddedEngine, EngineConfig
from .environments import Environments
from .interpreter import Job, JobOutcome, RunInterpreter
from .launcher import ProcessLauncher
from .runner import JobRunner, LineageSink, RunnerConfig, TaskCache

__all__ = [
    "ArtifactStore",
    "EmbeddedEngine",
    "EngineConfig",
    "Job",
    "JobOutcome",
    "JobRunner",
    "LineageSink",
    "RunInterpreter",
    "RunnerConfig",
    "TaskCache",
    "build_embedded_engine",
]


def build_embedded_engine(
    settings: Settings,
    artifacts: ArtifactStore,
    *,
    cache: TaskCache | None = None,
    lineage: LineageSink | None = None,
) -> EmbeddedEngine:
    local_root = settings.artifact_dir.resolve()
    runner = JobRunner(
        RunnerConfig(work_dir=local_root, task_timeout_seconds=settings.task_timeout_seconds),
        launcher=ProcessLauncher(),
        environments=Environments(
            settings.envs_dir.resolve(),
            pip_args=settings.task_pip_args,
            max_idle_seconds=settings.task_env_max_idle_days * 86_400,
        ),
        artifacts=artifacts,
        default_pipeline_root=str(local_root),
        cache=cache,
        lineage=lineage,
    )
    return EmbeddedEngine(
        runner,
        EngineConfig(
            parallelism=settings.engine_parallelism,
            run_parallelism=settings.engine_run_parallelism,
            default_pipeline_root=str(local_root),
            run_timeout_seconds=settings.run_timeout_seconds,
        ),
    )
