"""The base of every wire model and the small shared shapes."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from domain.resources import Status


class WireModel(BaseModel):
    """Reads snake_case (KFP's proto names) and camelCase (protojson's JSON names);
    writes snake_case, as KFP's server does."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class StatusOut(WireModel):
    code: int
    message: str
    details: list[dict[str, Any]] = []

    @classmethod
    def from_domain(cls, status: Status | None) -> StatusOut | None:
        if status is None:
            return None
        return cls(code=status.code, message=status.message, details=status.details)


class UrlIn(WireModel):
    pipeline_url: str | None = None


class VersionReference(WireModel):
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None


class RuntimeConfigWire(WireModel):
    parameters: dict[str, Any] | None = None
    pipeline_root: str | None = None


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise a wire model once, omitting unset fields (KFP's EmitUnpopulated=false)."""
    return Response(
        model.model_dump_json(exclude_none=True),
        status_code=status_code,
        media_type="application/json",
    )


def empty_response() -> Response:
    return Response(b"{}", media_type="application/json")
