"""The v2beta1 REST routes, one module per KFP service."""

from fastapi import APIRouter

from . import experiments, healthz, pipelines, recurring_runs, runs


def v2beta1_router() -> APIRouter:
    router = APIRouter()
    for module in (healthz, pipelines, experiments, runs, recurring_runs):
        router.include_router(module.router)
    return router
