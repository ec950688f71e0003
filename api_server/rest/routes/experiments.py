from __future__ import annotations

from fastapi import APIRouter, Response

from api_server.rest.dependencies import Experiments
from api_server.rest.params import ListParams, OptionalText
from api_server.rest.wire.base import empty_response, json_response
from api_server.rest.wire.experiments import ExperimentIn, ExperimentOut, ListExperimentsOut

router = APIRouter(tags=["ExperimentService"])


@router.post(
    "/experiments",
    response_model=ExperimentOut,
    operation_id="experiment_service_create_experiment",
)
def create_experiment(body: ExperimentIn, experiments: Experiments) -> Response:
    created = experiments.create(body.display_name, body.description, body.namespace)
    return json_response(ExperimentOut.from_domain(created))


@router.get(
    "/experiments/{experiment_id}",
    response_model=ExperimentOut,
    operation_id="experiment_service_get_experiment",
)
def get_experiment(experiment_id: str, experiments: Experiments) -> Response:
    return json_response(ExperimentOut.from_domain(experiments.get(experiment_id)))


@router.get(
    "/experiments",
    response_model=ListExperimentsOut,
    operation_id="experiment_service_list_experiments",
)
def list_experiments(
    query: ListParams, experiments: Experiments, namespace: OptionalText = None
) -> Response:
    return json_response(ListExperimentsOut.from_page(experiments.list(query, namespace)))


@router.post(
    "/experiments/{experiment_id}:archive", operation_id="experiment_service_archive_experiment"
)
def archive_experiment(experiment_id: str, experiments: Experiments) -> Response:
    experiments.archive(experiment_id)
    return empty_response()


@router.post(
    "/experiments/{experiment_id}:unarchive", operation_id="experiment_service_unarchive_experiment"
)
def unarchive_experiment(experiment_id: str, experiments: Experiments) -> Response:
    experiments.unarchive(experiment_id)
    return empty_response()


@router.delete("/experiments/{experiment_id}", operation_id="experiment_service_delete_experiment")
def delete_experiment(experiment_id: str, experiments: Experiments) -> Response:
    experiments.delete(experiment_id)
    return empty_response()
