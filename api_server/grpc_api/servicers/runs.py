from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2, json_format

from api_server.grpc_api.generated import run_pb2 as pb
from api_server.grpc_api.generated import run_pb2_grpc
from api_server.grpc_api.messages import (
    list_query,
    list_scope,
    runtime_config_of,
    set_plugins_input,
    set_runtime_config,
    set_source,
    set_status,
    set_time,
    source_of,
    struct_map_of,
    text,
)
from api_server.services import RunInput, RunService
from domain.resources import Run, RuntimeStatus, Task

EMPTY = empty_pb2.Empty()


def set_history(target: Any, history: list[RuntimeStatus]) -> None:
    for entry in history:
        status = target.add(state=pb.RuntimeState.Value(entry.state))
        set_time(status.update_time, entry.update_time)
        set_status(status.error, entry.error)


def _int(value: str | None) -> int:
    """Metadata-store ids are int64 on the wire and text inside."""
    return int(value) if value and value.isdigit() else 0


def task_message(t: Task) -> pb.PipelineTaskDetail:
    message = pb.PipelineTaskDetail(
        run_id=t.run_id,
        task_id=t.task_id,
        display_name=t.display_name,
        state=t.state,
        execution_id=_int(t.execution_id),
        parent_task_id=t.parent_task_id or "",
        pod_name=t.pod_name or "",
    )
    set_time(message.create_time, t.create_time)
    set_time(message.start_time, t.start_time)
    set_time(message.end_time, t.end_time)
    set_status(message.error, t.error)
    # Stored in their JSON form, as REST sends them.
    json_format.ParseDict(
        {"executor_detail": t.executor_detail, "inputs": t.inputs, "outputs": t.outputs},
        message,
        ignore_unknown_fields=True,
    )
    set_history(message.state_history, t.state_history)
    message.child_tasks.extend(pb.PipelineTaskDetail.ChildTask(task_id=c) for c in t.child_task_ids)
    return message


def run_message(r: Run) -> pb.Run:
    message = pb.Run(
        experiment_id=r.experiment_id,
        run_id=r.run_id,
        display_name=r.display_name,
        storage_state=r.storage_state,
        description=r.description,
        service_account=r.service_account,
        state=r.state,
        recurring_run_id=r.recurring_run_id or "",
    )
    set_source(message, r.pipeline_id, r.pipeline_version_id, r.pipeline_spec)
    set_runtime_config(message.runtime_config, r.runtime_config)
    set_time(message.created_at, r.created_at)
    set_time(message.scheduled_at, r.scheduled_at)
    set_time(message.finished_at, r.finished_at)
    set_status(message.error, r.error)
    if r.tasks is not None:
        message.run_details.task_details.extend(task_message(t) for t in r.tasks)
    if r.state_history is not None:
        set_history(message.state_history, r.state_history)
    set_plugins_input(message.plugins_input, r.plugins_input)
    return message


class RunServicer(run_pb2_grpc.RunServiceServicer):
    """``experiment_id`` on the per-run requests is ignored, as upstream: run ids are unique."""

    def __init__(self, runs: RunService) -> None:
        self.runs = runs

    def CreateRun(self, request: pb.CreateRunRequest, context: Any) -> pb.Run:
        run = request.run
        data = RunInput(
            display_name=text(run.display_name),
            source=source_of(run),
            experiment_id=text(run.experiment_id) or text(request.experiment_id),
            description=text(run.description),
            runtime_config=runtime_config_of(run),
            service_account=text(run.service_account),
            plugins_input=struct_map_of(run.plugins_input),
        )
        return run_message(self.runs.create(data))

    def GetRun(self, request: pb.GetRunRequest, context: Any) -> pb.Run:
        return run_message(self.runs.get(request.run_id))

    def ListRuns(self, request: pb.ListRunsRequest, context: Any) -> pb.ListRunsResponse:
        page = self.runs.list(list_query(request), **list_scope(request))
        return pb.ListRunsResponse(
            runs=[run_message(r) for r in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    def ArchiveRun(self, request: pb.ArchiveRunRequest, context: Any) -> empty_pb2.Empty:
        self.runs.archive(request.run_id)
        return EMPTY

    def UnarchiveRun(self, request: pb.UnarchiveRunRequest, context: Any) -> empty_pb2.Empty:
        self.runs.unarchive(request.run_id)
        return EMPTY

    def DeleteRun(self, request: pb.DeleteRunRequest, context: Any) -> empty_pb2.Empty:
        self.runs.delete(request.run_id)
        return EMPTY

    def TerminateRun(self, request: pb.TerminateRunRequest, context: Any) -> empty_pb2.Empty:
        self.runs.terminate(request.run_id)
        return EMPTY

    def RetryRun(self, request: pb.RetryRunRequest, context: Any) -> empty_pb2.Empty:
        self.runs.retry(request.run_id)
        return EMPTY
