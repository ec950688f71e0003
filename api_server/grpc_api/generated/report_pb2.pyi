from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ReportWorkflowRequest(_message.Message):
    __slots__ = ("workflow",)
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    workflow: str
    def __init__(self, workflow: _Optional[str] = ...) -> None: ...

class ReportScheduledWorkflowRequest(_message.Message):
    __slots__ = ("scheduled_workflow",)
    SCHEDULED_WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    scheduled_workflow: str
    def __init__(self, scheduled_workflow: _Optional[str] = ...) -> None: ...
