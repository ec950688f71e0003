"""The v2beta1 REST routes, one module per KFP service."""

from fastapi import APIRouter

from . import experiments, healthz, pipelines, recurring_runs, runs


def v2beta1_routers() -> list[APIRouter]:
    """The routers in matching order: FastAPI tries routes one by one, so the busiest
    resource (runs) comes first."""
    return [
        runs.router,
        experiments.router,
        pipelines.router,
        recurring_runs.router,
        healthz.router,
    ]
