from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetHealthzResponse(_message.Message):
    __slots__ = ("multi_user", "pipeline_store")
    MULTI_USER_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_STORE_FIELD_NUMBER: _ClassVar[int]
    multi_user: bool
    pipeline_store: str
    def __init__(self, multi_user: bool = ..., pipeline_store: _Optional[str] = ...) -> None: ...
