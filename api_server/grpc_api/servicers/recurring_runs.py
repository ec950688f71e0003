from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from api_server.grpc_api.generated import recurring_run_pb2 as pb
from api_server.grpc_api.generated import recurring_run_pb2_grpc
from api_server.grpc_api.messages import (
    list_query,
    list_scope,
    runtime_config_of,
    set_plugins_input,
    set_runtime_config,
    set_source,
    set_time,
    source_of,
    struct_map_of,
    text,
    time_of,
)
from api_server.services import RecurringRunInput, RecurringRunService, Trigger
from domain.resources import RecurringRun

EMPTY = empty_pb2.Empty()


def recurring_run_message(r: RecurringRun) -> pb.RecurringRun:
    message = pb.RecurringRun(
        recurring_run_id=r.recurring_run_id,
        display_name=r.display_name,
        description=r.description,
        service_account=r.service_account,
        max_concurrency=r.max_concurrency,
        mode=pb.RecurringRun.ENABLE if r.status == "ENABLED" else pb.RecurringRun.DISABLE,
        status=r.status,
        no_catchup=r.no_catchup,
        namespace=r.namespace,
        experiment_id=r.experiment_id,
    )
    set_source(message, r.pipeline_id, r.pipeline_version_id, r.pipeline_spec)
    set_runtime_config(message.runtime_config, r.runtime_config)
    schedule: pb.CronSchedule | pb.PeriodicSchedule
    if r.cron:
        schedule = message.trigger.cron_schedule
        schedule.cron = r.cron
    else:
        periodic = message.trigger.periodic_schedule
        periodic.interval_second = r.interval_seconds or 0
        schedule = periodic
    set_time(schedule.start_time, r.start_time)
    set_time(schedule.end_time, r.end_time)
    set_time(message.created_at, r.created_at)
    set_time(message.updated_at, r.updated_at)
    set_plugins_input(message.plugins_input, r.plugins_input)
    return message


def trigger_of(message: pb.Trigger) -> Trigger | None:
    kind = message.WhichOneof("trigger")
    if kind is None:
        return None
    if kind == "cron_schedule":
        cron = message.cron_schedule
        return Trigger(
            cron=cron.cron,
            start_time=time_of(cron, "start_time"),
            end_time=time_of(cron, "end_time"),
        )
    periodic = message.periodic_schedule
    return Trigger(
        interval_seconds=periodic.interval_second,
        start_time=time_of(periodic, "start_time"),
        end_time=time_of(periodic, "end_time"),
    )


class RecurringRunServicer(recurring_run_pb2_grpc.RecurringRunServiceServicer):
    def __init__(self, recurring_runs: RecurringRunService) -> None:
        self.recurring_runs = recurring_runs

    def CreateRecurringRun(
        self, request: pb.CreateRecurringRunRequest, context: Any
    ) -> pb.RecurringRun:
        r = request.recurring_run
        data = RecurringRunInput(
            display_name=text(r.display_name),
            source=source_of(r),
            trigger=trigger_of(r.trigger),
            experiment_id=text(r.experiment_id),
            description=text(r.description),
            runtime_config=runtime_config_of(r),
            service_account=text(r.service_account),
            max_concurrency=r.max_concurrency or None,
            mode=None
            if r.mode == pb.RecurringRun.MODE_UNSPECIFIED
            else pb.RecurringRun.Mode.Name(r.mode),
            no_catchup=r.no_catchup,
            namespace=text(r.namespace),
            plugins_input=struct_map_of(r.plugins_input),
        )
        return recurring_run_message(self.recurring_runs.create(data))

    def GetRecurringRun(self, request: pb.GetRecurringRunRequest, context: Any) -> pb.RecurringRun:
        return recurring_run_message(self.recurring_runs.get(request.recurring_run_id))

    def ListRecurringRuns(
        self, request: pb.ListRecurringRunsRequest, context: Any
    ) -> pb.ListRecurringRunsResponse:
        page = self.recurring_runs.list(list_query(request), **list_scope(request))
        return pb.ListRecurringRunsResponse(
            recurringRuns=[recurring_run_message(r) for r in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    def EnableRecurringRun(
        self, request: pb.EnableRecurringRunRequest, context: Any
    ) -> empty_pb2.Empty:
        self.recurring_runs.enable(request.recurring_run_id)
        return EMPTY

    def DisableRecurringRun(
        self, request: pb.DisableRecurringRunRequest, context: Any
    ) -> empty_pb2.Empty:
        self.recurring_runs.disable(request.recurring_run_id)
        return EMPTY

    def DeleteRecurringRun(
        self, request: pb.DeleteRecurringRunRequest, context: Any
    ) -> empty_pb2.Empty:
        # propagation_policy is accepted and not acted on, as over REST.
        self.recurring_runs.delete(request.recurring_run_id)
        return EMPTY
