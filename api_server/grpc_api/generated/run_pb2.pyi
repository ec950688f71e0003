import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from api_server.grpc_api.generated import runtime_config_pb2 as _runtime_config_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuntimeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUNTIME_STATE_UNSPECIFIED: _ClassVar[RuntimeState]
    PENDING: _ClassVar[RuntimeState]
    RUNNING: _ClassVar[RuntimeState]
    SUCCEEDED: _ClassVar[RuntimeState]
    SKIPPED: _ClassVar[RuntimeState]
    FAILED: _ClassVar[RuntimeState]
    CANCELING: _ClassVar[RuntimeState]
    CANCELED: _ClassVar[RuntimeState]
    PAUSED: _ClassVar[RuntimeState]

class PluginState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLUGIN_STATE_UNSPECIFIED: _ClassVar[PluginState]
    PLUGIN_RUNNING: _ClassVar[PluginState]
    PLUGIN_SUCCEEDED: _ClassVar[PluginState]
    PLUGIN_FAILED: _ClassVar[PluginState]
RUNTIME_STATE_UNSPECIFIED: RuntimeState
PENDING: RuntimeState
RUNNING: RuntimeState
SUCCEEDED: RuntimeState
SKIPPED: RuntimeState
FAILED: RuntimeState
CANCELING: RuntimeState
CANCELED: RuntimeState
PAUSED: RuntimeState
PLUGIN_STATE_UNSPECIFIED: PluginState
PLUGIN_RUNNING: PluginState
PLUGIN_SUCCEEDED: PluginState
PLUGIN_FAILED: PluginState

class Run(_message.Message):
    __slots__ = ("experiment_id", "run_id", "display_name", "storage_state", "description", "pipeline_version_id", "pipeline_spec", "pipeline_version_reference", "runtime_config", "service_account", "created_at", "scheduled_at", "finished_at", "state", "error", "run_details", "recurring_run_id", "state_history", "plugins_input", "plugins_output")
    class StorageState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STORAGE_STATE_UNSPECIFIED: _ClassVar[Run.StorageState]
        AVAILABLE: _ClassVar[Run.StorageState]
        ARCHIVED: _ClassVar[Run.StorageState]
    STORAGE_STATE_UNSPECIFIED: Run.StorageState
    AVAILABLE: Run.StorageState
    ARCHIVED: Run.StorageState
    class PluginsInputEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Struct
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    class PluginsOutputEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PluginOutput
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PluginOutput, _Mapping]] = ...) -> None: ...
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STORAGE_STATE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_SPEC_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_VERSION_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RUN_DETAILS_FIELD_NUMBER: _ClassVar[int]
    RECURRING_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_INPUT_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    run_id: str
    display_name: str
    storage_state: Run.StorageState
    description: str
    pipeline_version_id: str
    pipeline_spec: _struct_pb2.Struct
    pipeline_version_reference: PipelineVersionReference
    runtime_config: _runtime_config_pb2.RuntimeConfig
    service_account: str
    created_at: _timestamp_pb2.Timestamp
    scheduled_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    state: RuntimeState
    error: _status_pb2.Status
    run_details: RunDetails
    recurring_run_id: str
    state_history: _containers.RepeatedCompositeFieldContainer[RuntimeStatus]
    plugins_input: _containers.MessageMap[str, _struct_pb2.Struct]
    plugins_output: _containers.MessageMap[str, PluginOutput]
    def __init__(self, experiment_id: _Optional[str] = ..., run_id: _Optional[str] = ..., display_name: _Optional[str] = ..., storage_state: _Optional[_Union[Run.StorageState, str]] = ..., description: _Optional[str] = ..., pipeline_version_id: _Optional[str] = ..., pipeline_spec: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., pipeline_version_reference: _Optional[_Union[PipelineVersionReference, _Mapping]] = ..., runtime_config: _Optional[_Union[_runtime_config_pb2.RuntimeConfig, _Mapping]] = ..., service_account: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[RuntimeState, str]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., run_details: _Optional[_Union[RunDetails, _Mapping]] = ..., recurring_run_id: _Optional[str] = ..., state_history: _Optional[_Iterable[_Union[RuntimeStatus, _Mapping]]] = ..., plugins_input: _Optional[_Mapping[str, _struct_pb2.Struct]] = ..., plugins_output: _Optional[_Mapping[str, PluginOutput]] = ...) -> None: ...

class PipelineVersionReference(_message.Message):
    __slots__ = ("pipeline_id", "pipeline_version_id")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: str
    pipeline_version_id: str
    def __init__(self, pipeline_id: _Optional[str] = ..., pipeline_version_id: _Optional[str] = ...) -> None: ...

class RuntimeStatus(_message.Message):
    __slots__ = ("update_time", "state", "error")
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    update_time: _timestamp_pb2.Timestamp
    state: RuntimeState
    error: _status_pb2.Status
    def __init__(self, update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[RuntimeState, str]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class MetadataValue(_message.Message):
    __slots__ = ("value", "render_type")
    class RenderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNSPECIFIED: _ClassVar[MetadataValue.RenderType]
        URL: _ClassVar[MetadataValue.RenderType]
    UNSPECIFIED: MetadataValue.RenderType
    URL: MetadataValue.RenderType
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RENDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    value: _struct_pb2.Value
    render_type: MetadataValue.RenderType
    def __init__(self, value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., render_type: _Optional[_Union[MetadataValue.RenderType, str]] = ...) -> None: ...

class PluginOutput(_message.Message):
    __slots__ = ("entries", "state", "state_message")
    class EntriesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MetadataValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MetadataValue, _Mapping]] = ...) -> None: ...
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.MessageMap[str, MetadataValue]
    state: PluginState
    state_message: str
    def __init__(self, entries: _Optional[_Mapping[str, MetadataValue]] = ..., state: _Optional[_Union[PluginState, str]] = ..., state_message: _Optional[str] = ...) -> None: ...

class RunDetails(_message.Message):
    __slots__ = ("pipeline_context_id", "pipeline_run_context_id", "task_details")
    PIPELINE_CONTEXT_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_RUN_CONTEXT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_DETAILS_FIELD_NUMBER: _ClassVar[int]
    pipeline_context_id: int
    pipeline_run_context_id: int
    task_details: _containers.RepeatedCompositeFieldContainer[PipelineTaskDetail]
    def __init__(self, pipeline_context_id: _Optional[int] = ..., pipeline_run_context_id: _Optional[int] = ..., task_details: _Optional[_Iterable[_Union[PipelineTaskDetail, _Mapping]]] = ...) -> None: ...

class PipelineTaskDetail(_message.Message):
    __slots__ = ("run_id", "task_id", "display_name", "create_time", "start_time", "end_time", "executor_detail", "state", "execution_id", "error", "inputs", "outputs", "parent_task_id", "state_history", "pod_name", "child_tasks")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ArtifactList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ArtifactList, _Mapping]] = ...) -> None: ...
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ArtifactList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ArtifactList, _Mapping]] = ...) -> None: ...
    class ChildTask(_message.Message):
        __slots__ = ("task_id", "pod_name")
        TASK_ID_FIELD_NUMBER: _ClassVar[int]
        POD_NAME_FIELD_NUMBER: _ClassVar[int]
        task_id: str
        pod_name: str
        def __init__(self, task_id: _Optional[str] = ..., pod_name: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_DETAIL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    PARENT_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    POD_NAME_FIELD_NUMBER: _ClassVar[int]
    CHILD_TASKS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    task_id: str
    display_name: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    executor_detail: PipelineTaskExecutorDetail
    state: RuntimeState
    execution_id: int
    error: _status_pb2.Status
    inputs: _containers.MessageMap[str, ArtifactList]
    outputs: _containers.MessageMap[str, ArtifactList]
    parent_task_id: str
    state_history: _containers.RepeatedCompositeFieldContainer[RuntimeStatus]
    pod_name: str
    child_tasks: _containers.RepeatedCompositeFieldContainer[PipelineTaskDetail.ChildTask]
    def __init__(self, run_id: _Optional[str] = ..., task_id: _Optional[str] = ..., display_name: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., executor_detail: _Optional[_Union[PipelineTaskExecutorDetail, _Mapping]] = ..., state: _Optional[_Union[RuntimeState, str]] = ..., execution_id: _Optional[int] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., inputs: _Optional[_Mapping[str, ArtifactList]] = ..., outputs: _Optional[_Mapping[str, ArtifactList]] = ..., parent_task_id: _Optional[str] = ..., state_history: _Optional[_Iterable[_Union[RuntimeStatus, _Mapping]]] = ..., pod_name: _Optional[str] = ..., child_tasks: _Optional[_Iterable[_Union[PipelineTaskDetail.ChildTask, _Mapping]]] = ...) -> None: ...

class PipelineTaskExecutorDetail(_message.Message):
    __slots__ = ("main_job", "pre_caching_check_job", "failed_main_jobs", "failed_pre_caching_check_jobs")
    MAIN_JOB_FIELD_NUMBER: _ClassVar[int]
    PRE_CACHING_CHECK_JOB_FIELD_NUMBER: _ClassVar[int]
    FAILED_MAIN_JOBS_FIELD_NUMBER: _ClassVar[int]
    FAILED_PRE_CACHING_CHECK_JOBS_FIELD_NUMBER: _ClassVar[int]
    main_job: str
    pre_caching_check_job: str
    failed_main_jobs: _containers.RepeatedScalarFieldContainer[str]
    failed_pre_caching_check_jobs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, main_job: _Optional[str] = ..., pre_caching_check_job: _Optional[str] = ..., failed_main_jobs: _Optional[_Iterable[str]] = ..., failed_pre_caching_check_jobs: _Optional[_Iterable[str]] = ...) -> None: ...

class ArtifactList(_message.Message):
    __slots__ = ("artifact_ids",)
    ARTIFACT_IDS_FIELD_NUMBER: _ClassVar[int]
    artifact_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, artifact_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ("experiment_id", "run")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    run: Run
    def __init__(self, experiment_id: _Optional[str] = ..., run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("experiment_id", "run_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    run_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("namespace", "experiment_id", "page_token", "page_size", "sort_by", "filter")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SORT_BY_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    experiment_id: str
    page_token: str
    page_size: int
    sort_by: str
    filter: str
    def __init__(self, namespace: _Optional[str] = ..., experiment_id: _Optional[str] = ..., page_token: _Optional[str] = ..., page_size: _Optional[int] = ..., sort_by: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class TerminateRunRequest(_message.Message):
    __slots__ = ("experiment_id", "run_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    run_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "total_size", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    total_size: int
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., total_size: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ArchiveRunRequest(_message.Message):
    __slots__ = ("experiment_id", "run_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    run_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class UnarchiveRunRequest(_message.Message):
    __slots__ = ("experiment_id", "run_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    run_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class DeleteRunRequest(_message.Message):
    __slots__ = ("experiment_id", "run_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    run_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class RetryRunRequest(_message.Message):
    __slots__ = ("experiment_id", "run_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    run_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...
