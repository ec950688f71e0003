"""Translation between domain objects and v2beta1 messages, for what the parity suite cannot
reach yet: run errors, tasks and their artifacts (no run engine fills them today)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2

from api_server.grpc_api.generated import recurring_run_pb2, run_pb2, runtime_config_pb2
from api_server.grpc_api.messages import runtime_config_of, source_of, struct_of
from api_server.grpc_api.servicers.recurring_runs import trigger_of
from api_server.grpc_api.servicers.runs import run_message
from domain.resources import Run, RuntimeStatus, Status, Task

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def a_run(**changes: object) -> Run:
    values: dict[str, Any] = dict(
        run_id="r1",
        experiment_id="e1",
        namespace="",
        display_name="run",
        description="",
        pipeline_id=None,
        pipeline_version_id=None,
        spec_digest="d",
        runtime_config={"parameters": {"n": 3, "s": "x"}, "pipeline_root": "/tmp/root"},
        service_account="",
        storage_state="AVAILABLE",
        state="FAILED",
        generation=1,
        error=Status(9, "step failed", [{"step": "train"}]),
        recurring_run_id=None,
        plugins_input={"mlflow": {"experiment": "x"}},
        created_at=T0,
        scheduled_at=T0,
        finished_at=T0,
        pipeline_spec={"pipelineInfo": {"name": "p"}, "schemaVersion": "2.1.0"},
        state_history=[RuntimeStatus("PENDING", T0), RuntimeStatus("FAILED", T0)],
        tasks=[
            Task(
                task_id="t1",
                run_id="r1",
                display_name="train",
                state="FAILED",
                create_time=T0,
                execution_id="42",
                executor_detail={"main_job": "pod-1", "failed_main_jobs": ["pod-0"]},
                inputs={"data": {"artifact_ids": ["7", "8"]}},
                child_task_ids=["t2"],
            )
        ],
    )
    values.update(changes)
    return Run(**values)


def test_a_failed_run_with_tasks_translates_field_by_field() -> None:
    message = run_message(a_run())
    assert message.WhichOneof("pipeline_source") == "pipeline_spec"
    assert message.state == run_pb2.FAILED
    assert message.finished_at.ToDatetime(tzinfo=UTC) == T0
    assert (message.error.code, message.error.message) == (9, "step failed")
    detail = struct_pb2.Struct()
    assert message.error.details[0].Unpack(detail) and dict(detail) == {"step": "train"}
    assert [s.state for s in message.state_history] == [run_pb2.PENDING, run_pb2.FAILED]
    assert message.runtime_config.parameters["n"].number_value == 3
    assert message.runtime_config.pipeline_root == "/tmp/root"
    assert json_format.MessageToDict(message.plugins_input["mlflow"]) == {"experiment": "x"}
    (task,) = message.run_details.task_details
    assert (task.task_id, task.execution_id, task.state) == ("t1", 42, run_pb2.FAILED)
    assert task.executor_detail.main_job == "pod-1"
    assert list(task.executor_detail.failed_main_jobs) == ["pod-0"]
    assert list(task.inputs["data"].artifact_ids) == [7, 8]
    assert [c.task_id for c in task.child_tasks] == ["t2"]


def test_a_run_from_a_version_carries_the_reference_not_the_spec() -> None:
    message = run_message(a_run(pipeline_id="p1", pipeline_version_id="v1", tasks=None))
    assert message.WhichOneof("pipeline_source") == "pipeline_version_reference"
    assert message.pipeline_version_reference.pipeline_version_id == "v1"
    assert not message.HasField("run_details")


def test_inputs_keep_integers_integers_and_read_unset_as_none() -> None:
    run = run_pb2.Run(
        pipeline_version_id="v-old",
        runtime_config=runtime_config_pb2.RuntimeConfig(
            parameters={
                "n": struct_pb2.Value(number_value=3),
                "r": struct_pb2.Value(number_value=0.5),
            }
        ),
    )
    assert runtime_config_of(run) == {"parameters": {"n": 3, "r": 0.5}}
    assert runtime_config_of(run_pb2.Run()) is None
    source = source_of(run)
    assert (source.pipeline_id, source.pipeline_version_id, source.pipeline_spec) == (
        None,
        "v-old",
        None,
    )
    spec = struct_pb2.Struct()
    spec.update({"deploymentSpec": {"retries": 2, "nested": [1, 2.5]}})
    assert struct_of(run_pb2.Run(pipeline_spec=spec), "pipeline_spec") == {
        "deploymentSpec": {"retries": 2, "nested": [1, 2.5]}
    }


def test_triggers() -> None:
    assert trigger_of(recurring_run_pb2.Trigger()) is None
    cron = recurring_run_pb2.Trigger(cron_schedule=recurring_run_pb2.CronSchedule(cron="0 * * * *"))
    cron.cron_schedule.start_time.FromDatetime(T0)
    parsed = trigger_of(cron)
    assert parsed is not None
    assert (parsed.cron, parsed.start_time, parsed.end_time) == ("0 * * * *", T0, None)
    periodic = trigger_of(
        recurring_run_pb2.Trigger(
            periodic_schedule=recurring_run_pb2.PeriodicSchedule(interval_second=90)
        )
    )
    assert periodic is not None and periodic.interval_seconds == 90 and periodic.cron is None
