"""Conversions every servicer shares: timestamps, structs, statuses, list queries.

proto3 has no "unset" for scalars: an empty string or a zero is what an unset field reads
as, so inputs turn those into None before the service sees them, as REST does for absent
JSON fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from google.protobuf import any_pb2, json_format, struct_pb2, timestamp_pb2
from google.rpc import status_pb2

from api_server.grpc_api.generated import runtime_config_pb2
from api_server.services import ListQuery, PipelineSource
from domain.resources import Status


class _ListRequest(Protocol):
    @property
    def filter(self) -> str: ...
    @property
    def sort_by(self) -> str: ...
    @property
    def page_size(self) -> int: ...
    @property
    def page_token(self) -> str: ...


def list_query(request: _ListRequest) -> ListQuery:
    """The four list parameters of any List request, parsed and checked by the service."""
    return ListQuery.from_params(
        filter=request.filter,
        sort_by=request.sort_by,
        page_size=request.page_size,
        page_token=request.page_token,
    )


class _ScopedListRequest(_ListRequest, Protocol):
    @property
    def experiment_id(self) -> str: ...
    @property
    def namespace(self) -> str: ...


def list_scope(request: _ScopedListRequest) -> dict[str, str | None]:
    """The experiment and namespace a run or recurring run list is limited to."""
    return {"experiment_id": text(request.experiment_id), "namespace": text(request.namespace)}


def text(value: str) -> str | None:
    """A proto3 string, None when left at its default."""
    return value or None


# --- out: domain -> message -------------------------------------------------------------


def set_time(target: timestamp_pb2.Timestamp, value: datetime | None) -> None:
    if value is not None:
        target.FromDatetime(value)


def set_struct(target: struct_pb2.Struct, value: Mapping[str, Any] | None) -> None:
    if value:
        target.update(value)


def packed_details(details: list[dict[str, Any]]) -> list[any_pb2.Any]:
    """Error details (JSON objects in the domain) as ``google.protobuf.Struct`` in ``Any``."""
    packed = []
    for detail in details:
        struct = struct_pb2.Struct()
        struct.update(detail)
        item = any_pb2.Any()
        item.Pack(struct)
        packed.append(item)
    return packed


def set_status(target: status_pb2.Status, value: Status | None) -> None:
    if value is not None:
        target.code = value.code
        target.message = value.message
        target.details.extend(packed_details(value.details))


def set_runtime_config(
    target: runtime_config_pb2.RuntimeConfig, value: Mapping[str, Any] | None
) -> None:
    """Always present on a run, as REST always writes ``{"parameters": {}}`` at least."""
    target.SetInParent()
    if not value:
        return
    for name, parameter in (value.get("parameters") or {}).items():
        json_format.ParseDict(parameter, target.parameters[name])
    target.pipeline_root = value.get("pipeline_root") or ""


def set_plugins_input(target: Any, value: Mapping[str, Any] | None) -> None:
    """``map<string, Struct>``: each plugin's input is an object."""
    for name, entry in (value or {}).items():
        if isinstance(entry, Mapping):
            target[name].update(entry)


def set_source(
    message: Any,
    pipeline_id: str | None,
    version_id: str | None,
    spec: Mapping[str, Any] | None,
) -> None:
    """The ``pipeline_source`` oneof of a run or recurring run: the version it was made from,
    or the inline spec it was given."""
    if version_id:
        reference = message.pipeline_version_reference
        reference.pipeline_id = pipeline_id or ""
        reference.pipeline_version_id = version_id
    else:
        set_struct(message.pipeline_spec, spec)


# --- in: message -> domain --------------------------------------------------------------


def json_of(message: Any) -> Any:
    """A Struct or Value as JSON data. Struct numbers are doubles; integral ones become ints,
    as protojson writes them, so a spec or parameter sent over gRPC is stored exactly as the
    same JSON sent over REST would be."""
    return _integral_as_int(json_format.MessageToDict(message))


def _integral_as_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_as_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_as_int(item) for item in value]
    return value


def time_of(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def struct_of(message: Any, field: str) -> dict[str, Any] | None:
    if not message.HasField(field):
        return None
    return json_of(getattr(message, field))


def map_of(value: Mapping[str, Any]) -> dict[str, Any] | None:
    """A ``map<string, string>`` as a dict, None when empty."""
    return dict(value) or None


def struct_map_of(value: Mapping[str, struct_pb2.Struct]) -> dict[str, Any] | None:
    return {name: json_of(entry) for name, entry in value.items()} or None


def runtime_config_of(message: Any) -> dict[str, Any] | None:
    if not message.HasField("runtime_config"):
        return None
    config: runtime_config_pb2.RuntimeConfig = message.runtime_config
    value: dict[str, Any] = {
        "parameters": {name: json_of(parameter) for name, parameter in config.parameters.items()}
    }
    if config.pipeline_root:
        value["pipeline_root"] = config.pipeline_root
    return value


def source_of(message: Any) -> PipelineSource:
    """The ``pipeline_source`` oneof of a run or recurring run."""
    reference = message.pipeline_version_reference
    return PipelineSource(
        pipeline_id=text(reference.pipeline_id),
        pipeline_version_id=text(reference.pipeline_version_id)
        or text(message.pipeline_version_id),
        pipeline_spec=struct_of(message, "pipeline_spec"),
    )
