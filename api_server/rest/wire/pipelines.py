from __future__ import annotations

from datetime import datetime
from typing import Any

from api_server.services import PipelineInput, VersionInput
from domain.resources import Page, Pipeline, PipelineVersion

from .base import UrlIn, WireModel


class PipelineIn(WireModel):
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    namespace: str | None = None
    tags: dict[str, Any] | None = None

    def to_input(self) -> PipelineInput:
        return PipelineInput(
            name=self.name,
            display_name=self.display_name,
            description=self.description,
            namespace=self.namespace,
            tags=self.tags,
        )


class PipelineVersionIn(WireModel):
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    package_url: UrlIn | None = None
    pipeline_spec: dict[str, Any] | None = None
    code_source_url: str | None = None
    tags: dict[str, Any] | None = None

    def to_input(self) -> VersionInput:
        return VersionInput(
            name=self.name,
            display_name=self.display_name,
            description=self.description,
            package_url=self.package_url.pipeline_url if self.package_url else None,
            pipeline_spec=self.pipeline_spec,
            code_source_url=self.code_source_url,
            tags=self.tags,
        )


class CreatePipelineAndVersionIn(WireModel):
    pipeline: PipelineIn
    pipeline_version: PipelineVersionIn


class PipelineOut(WireModel):
    pipeline_id: str
    name: str
    display_name: str
    description: str | None = None
    created_at: datetime
    namespace: str | None = None
    tags: dict[str, str] | None = None

    @classmethod
    def from_domain(cls, p: Pipeline) -> PipelineOut:
        return cls(
            pipeline_id=p.pipeline_id,
            name=p.name,
            display_name=p.display_name,
            description=p.description or None,
            created_at=p.created_at,
            namespace=p.namespace or None,
            tags=p.tags or None,
        )


class UrlOut(WireModel):
    pipeline_url: str


class PipelineVersionOut(WireModel):
    pipeline_id: str
    pipeline_version_id: str
    name: str
    display_name: str
    description: str | None = None
    created_at: datetime
    package_url: UrlOut | None = None
    code_source_url: str | None = None
    pipeline_spec: dict[str, Any] | None = None
    tags: dict[str, str] | None = None

    @classmethod
    def from_domain(cls, v: PipelineVersion) -> PipelineVersionOut:
        return cls(
            pipeline_id=v.pipeline_id,
            pipeline_version_id=v.pipeline_version_id,
            name=v.name,
            display_name=v.display_name,
            description=v.description or None,
            created_at=v.created_at,
            package_url=UrlOut(pipeline_url=v.package_url) if v.package_url else None,
            code_source_url=v.code_source_url,
            pipeline_spec=v.pipeline_spec,
            tags=v.tags or None,
        )


class ListPipelinesOut(WireModel):
    pipelines: list[PipelineOut] | None = None
    total_size: int
    next_page_token: str | None = None

    @classmethod
    def from_page(cls, page: Page[Pipeline]) -> ListPipelinesOut:
        return cls(
            pipelines=[PipelineOut.from_domain(p) for p in page.items] or None,
            total_size=page.total_size,
            next_page_token=page.next_page_token or None,
        )


class ListPipelineVersionsOut(WireModel):
    pipeline_versions: list[PipelineVersionOut] | None = None
    total_size: int
    next_page_token: str | None = None

    @classmethod
    def from_page(cls, page: Page[PipelineVersion]) -> ListPipelineVersionsOut:
        return cls(
            pipeline_versions=[PipelineVersionOut.from_domain(v) for v in page.items] or None,
            total_size=page.total_size,
            next_page_token=page.next_page_token or None,
        )
