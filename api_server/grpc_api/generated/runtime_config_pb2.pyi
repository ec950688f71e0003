from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuntimeConfig(_message.Message):
    __slots__ = ("parameters", "pipeline_root")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_ROOT_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.MessageMap[str, _struct_pb2.Value]
    pipeline_root: str
    def __init__(self, parameters: _Optional[_Mapping[str, _struct_pb2.Value]] = ..., pipeline_root: _Optional[str] = ...) -> None: ...
