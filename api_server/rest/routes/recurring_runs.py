from __future__ import annotations

from fastapi import APIRouter, Response

from api_server.rest.dependencies import RecurringRuns
from api_server.rest.params import ListParams, OptionalText
from api_server.rest.wire.base import empty_response, json_response
from api_server.rest.wire.recurring_runs import (
    ListRecurringRunsOut,
    RecurringRunIn,
    RecurringRunOut,
)

router = APIRouter(tags=["RecurringRunService"])


@router.post(
    "/recurringruns",
    response_model=RecurringRunOut,
    operation_id="recurring_run_service_create_recurring_run",
)
def create_recurring_run(body: RecurringRunIn, recurring_runs: RecurringRuns) -> Response:
    return json_response(RecurringRunOut.from_domain(recurring_runs.create(body.to_input())))


@router.get(
    "/recurringruns/{recurring_run_id}",
    response_model=RecurringRunOut,
    operation_id="recurring_run_service_get_recurring_run",
)
def get_recurring_run(recurring_run_id: str, recurring_runs: RecurringRuns) -> Response:
    return json_response(RecurringRunOut.from_domain(recurring_runs.get(recurring_run_id)))


@router.get(
    "/recurringruns",
    response_model=ListRecurringRunsOut,
    operation_id="recurring_run_service_list_recurring_runs",
)
def list_recurring_runs(
    query: ListParams,
    recurring_runs: RecurringRuns,
    namespace: OptionalText = None,
    experiment_id: OptionalText = None,
) -> Response:
    page = recurring_runs.list(query, experiment_id=experiment_id or None, namespace=namespace)
    return json_response(ListRecurringRunsOut.from_page(page))


@router.post(
    "/recurringruns/{recurring_run_id}:enable",
    operation_id="recurring_run_service_enable_recurring_run",
)
def enable_recurring_run(recurring_run_id: str, recurring_runs: RecurringRuns) -> Response:
    recurring_runs.enable(recurring_run_id)
    return empty_response()


@router.post(
    "/recurringruns/{recurring_run_id}:disable",
    operation_id="recurring_run_service_disable_recurring_run",
)
def disable_recurring_run(recurring_run_id: str, recurring_runs: RecurringRuns) -> Response:
    recurring_runs.disable(recurring_run_id)
    return empty_response()


@router.delete(
    "/recurringruns/{recurring_run_id}", operation_id="recurring_run_service_delete_recurring_run"
)
def delete_recurring_run(
    recurring_run_id: str, recurring_runs: RecurringRuns, propagation_policy: OptionalText = None
) -> Response:
    recurring_runs.delete(recurring_run_id)
    return empty_response()
