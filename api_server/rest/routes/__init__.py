"""The v2beta1 REST routes, one module per KFP service."""

from fastapi import APIRouter

from . import experiments, healthz, pipelines, recurring_runs, runs, task_files


def v2beta1_routers() -> list[APIRouter]:
    """The routers in matching order: FastAPI tries routes one by one, so the busiest
    resource (runs) comes first."""
    return [
        runs.router,
        task_files.router,
        experiments.router,
        pipelines.router,
        recurring_runs.router,
        healthz.router,
    ]


def v1alpha1_routers() -> list[APIRouter]:
    """The one v1alpha1 route KFP's UI uses: task logs."""
    return [task_files.log_router]
