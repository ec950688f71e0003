from __future__ import annotations

from fastapi import APIRouter, Response

from api_server.rest.dependencies import Runs
from api_server.rest.params import ListParams, OptionalText
from api_server.rest.wire.base import empty_response, json_response
from api_server.rest.wire.runs import ListRunsOut, RunIn, RunOut
from api_server.rest.wire.stored_tasks import run_json

router = APIRouter(tags=["RunService"])

# `experiment_id` on the per-run calls is accepted and ignored, as KFP does: a run id is
# globally unique.


@router.post("/runs", response_model=RunOut, operation_id="run_service_create_run")
def create_run(body: RunIn, runs: Runs, experiment_id: OptionalText = None) -> Response:
    return json_response(RunOut.from_domain(runs.create(body.to_input(experiment_id))))


@router.get("/runs/{run_id}", response_model=RunOut, operation_id="run_service_get_run")
def get_run(run_id: str, runs: Runs, experiment_id: OptionalText = None) -> Response:
    # A big run's task details are written from their stored rows (see stored_tasks).
    return Response(run_json(*runs.get_stored(run_id)), media_type="application/json")


@router.get("/runs", response_model=ListRunsOut, operation_id="run_service_list_runs")
def list_runs(
    query: ListParams,
    runs: Runs,
    namespace: OptionalText = None,
    experiment_id: OptionalText = None,
) -> Response:
    page = runs.list(query, experiment_id=experiment_id or None, namespace=namespace)
    return json_response(ListRunsOut.from_page(page))


@router.post("/runs/{run_id}:archive", operation_id="run_service_archive_run")
def archive_run(run_id: str, runs: Runs, experiment_id: OptionalText = None) -> Response:
    runs.archive(run_id)
    return empty_response()


@router.post("/runs/{run_id}:unarchive", operation_id="run_service_unarchive_run")
def unarchive_run(run_id: str, runs: Runs, experiment_id: OptionalText = None) -> Response:
    runs.unarchive(run_id)
    return empty_response()


@router.post("/runs/{run_id}:terminate", operation_id="run_service_terminate_run")
def terminate_run(run_id: str, runs: Runs, experiment_id: OptionalText = None) -> Response:
    runs.terminate(run_id)
    return empty_response()


@router.post("/runs/{run_id}:retry", operation_id="run_service_retry_run")
def retry_run(run_id: str, runs: Runs, experiment_id: OptionalText = None) -> Response:
    runs.retry(run_id)
    return empty_response()


@router.delete("/runs/{run_id}", operation_id="run_service_delete_run")
def delete_run(run_id: str, runs: Runs, experiment_id: OptionalText = None) -> Response:
    runs.delete(run_id)
    return empty_response()
