"""Pipelines and their versions, including uploads and package_url creation."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy.orm import Session

from api_server.clients.package_fetch import fetch_package
from api_server.storage import pipelines as store
from domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from domain.pipeline_spec import PipelinePackage, load_pipeline_package
from domain.resources import Page, Pipeline, PipelineVersion

from . import validation
from .context import ListQuery, ServiceContext
from .memo import Memo
from .specs import document_of, package_from_body, store_package, wire_spec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineInput:
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    namespace: str | None = None
    tags: Any = None


@dataclass(frozen=True)
class VersionInput:
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    package_url: str | None = None
    pipeline_spec: Any = None
    code_source_url: str | None = None
    tags: Any = None


def parse_tags_param(raw: str | None) -> dict[str, str] | None:
    """The upload endpoints carry ``tags`` as a JSON object in a query parameter."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"tags: not a JSON object: {exc}") from exc
    return validation.tags("tags", value)


class PipelineService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        # Version id -> (pipeline id, spec digest): neither ever changes for a version, so
        # run creation reads them once; existence is checked where the run is written.
        self._run_versions: Memo[str, tuple[str, str]] = Memo()

    # --- pipelines -------------------------------------------------------------------

    def create(self, data: PipelineInput) -> Pipeline:
        """Create a pipeline with no versions."""
        pipeline = self._new_pipeline(data)
        with self.ctx.db.write() as session:
            self._insert_pipeline(session, pipeline)
        return pipeline

    def create_with_version(self, data: PipelineInput, version: VersionInput) -> Pipeline:
        """Create a pipeline and its first version atomically."""
        pipeline = self._new_pipeline(data)
        package, package_url = self._package_of(version)
        with self.ctx.db.write() as session:
            self._insert_pipeline(session, pipeline)
            self._insert_version(
                session, pipeline, version, package, package_url, default_name=pipeline.name
            )
        return pipeline

    def upload(self, content: bytes, filename: str | None, data: PipelineInput) -> Pipeline:
        """A multipart upload: a new pipeline plus a first version of the same name."""
        package = load_pipeline_package(content, filename, max_bytes=self.ctx.max_upload_bytes)
        name = (
            data.name
            or data.display_name
            or _stem(filename)
            or package.pipeline_spec["pipelineInfo"]["name"]
        )
        pipeline = self._new_pipeline(replace(data, name=name))
        version = VersionInput(
            name=pipeline.name,
            display_name=pipeline.display_name,
            description=pipeline.description,
        )
        with self.ctx.db.write() as session:
            self._insert_pipeline(session, pipeline)
            self._insert_version(
                session, pipeline, version, package, None, default_name=pipeline.name
            )
        logger.info("pipeline uploaded", extra={"pipeline_id": pipeline.pipeline_id})
        return pipeline

    def get(self, pipeline_id: str) -> Pipeline:
        with self.ctx.db.read() as session:
            return self._require(session, pipeline_id)

    def get_by_name(self, name: str, namespace: str | None) -> Pipeline:
        ns = validation.namespace(namespace)
        with self.ctx.db.read() as session:
            pipeline = store.find_pipeline_by_name(session, ns, name)
        if pipeline is None:
            raise NotFound(f"pipeline named {name!r} does not exist in namespace {ns!r}")
        return pipeline

    def list(self, query: ListQuery, namespace: str | None) -> Page[Pipeline]:
        ns = validation.namespace(namespace) if namespace is not None else None
        options = self.ctx.list_options(query, store.PIPELINE_FIELDS, {"namespace": ns})
        with self.ctx.db.read() as session:
            items, total, token = store.list_pipelines(
                session, options, namespace=ns, secret=self.ctx.page_token_secret
            )
        return Page(items, total, token)

    def update(self, pipeline_id: str, data: PipelineInput) -> Pipeline:
        """Change a pipeline's display name, description or tags (the name is its key)."""
        with self.ctx.db.write() as session:
            current = self._require(session, pipeline_id)
            if data.name and data.name != current.name:
                raise InvalidArgument("name: a pipeline's name cannot be changed")
            values = _mutable_values(data)
            if values:
                store.update_pipeline(session, pipeline_id, values)
        return replace(current, **values)

    def delete(self, pipeline_id: str, *, cascade: bool) -> None:
        """Delete a pipeline; with versions only when ``cascade`` is set. Runs made from
        its versions keep their specs."""
        with self.ctx.db.write() as session:
            self._require(session, pipeline_id)
            if not cascade and store.has_versions(session, pipeline_id):
                raise FailedPrecondition(
                    f"pipeline {pipeline_id!r} has versions: delete them first or pass cascade=true"
                )
            store.delete_pipeline(session, pipeline_id)
        logger.info("pipeline deleted", extra={"pipeline_id": pipeline_id, "cascade": cascade})

    # --- versions --------------------------------------------------------------------

    def create_version(self, pipeline_id: str, version: VersionInput) -> PipelineVersion:
        package, package_url = self._package_of(version)
        with self.ctx.db.write() as session:
            pipeline = self._require(session, pipeline_id)
            return self._insert_version(
                session, pipeline, version, package, package_url, default_name=None
            )

    def upload_version(
        self, content: bytes, filename: str | None, pipeline_id: str | None, version: VersionInput
    ) -> PipelineVersion:
        if not pipeline_id:
            raise InvalidArgument("pipelineid: required to upload a pipeline version")
        package = load_pipeline_package(content, filename, max_bytes=self.ctx.max_upload_bytes)
        with self.ctx.db.write() as session:
            pipeline = self._require(session, pipeline_id)
            return self._insert_version(
                session, pipeline, version, package, None, default_name=_stem(filename)
            )

    def get_version(self, pipeline_id: str, version_id: str) -> PipelineVersion:
        with self.ctx.db.read() as session:
            version = self._require_version(session, pipeline_id, version_id)
            document = self.ctx.specs.load(session, version.spec_digest)
        return replace(version, pipeline_spec=wire_spec(document))

    def list_versions(self, pipeline_id: str, query: ListQuery) -> Page[PipelineVersion]:
        options = self.ctx.list_options(query, store.VERSION_FIELDS, {"pipeline_id": pipeline_id})
        with self.ctx.db.read() as session:
            self._require(session, pipeline_id)
            items, total, token = store.list_versions(
                session, options, pipeline_id=pipeline_id, secret=self.ctx.page_token_secret
            )
        return Page(items, total, token)

    def update_version(
        self, pipeline_id: str, version_id: str, data: VersionInput
    ) -> PipelineVersion:
        with self.ctx.db.write() as session:
            current = self._require_version(session, pipeline_id, version_id)
            if data.name and data.name != current.name:
                raise InvalidArgument("name: a pipeline version's name cannot be changed")
            if data.pipeline_spec or data.package_url:
                raise InvalidArgument(
                    "pipeline_spec: a version's spec cannot be changed; create a new version"
                )
            values = _mutable_values(
                PipelineInput(
                    display_name=data.display_name, description=data.description, tags=data.tags
                )
            )
            if values:
                store.update_version(session, version_id, values)
            document = self.ctx.specs.load(session, current.spec_digest)
        # The same representation GetPipelineVersion gives, spec included.
        return replace(current, **values, pipeline_spec=wire_spec(document))

    def delete_version(self, pipeline_id: str, version_id: str) -> None:
        with self.ctx.db.write() as session:
            self._require_version(session, pipeline_id, version_id)
            store.delete_version(session, version_id)
        logger.info("pipeline version deleted", extra={"pipeline_version_id": version_id})

    def resolve_version(
        self, session: Session, pipeline_id: str | None, version_id: str | None
    ) -> PipelineVersion:
        """The version a run refers to; with no version id, the pipeline's latest."""
        if version_id:
            version = store.get_version(session, version_id)
            if version is None:
                raise NotFound(f"pipeline version {version_id!r} does not exist")
            if pipeline_id and version.pipeline_id != pipeline_id:
                raise InvalidArgument(
                    f"pipeline_version_reference: version {version_id!r} does not belong"
                    f" to pipeline {pipeline_id!r}"
                )
            return version
        if not pipeline_id:
            raise InvalidArgument(
                "pipeline_version_reference: pipeline_id or pipeline_version_id is required"
            )
        self._require(session, pipeline_id)
        latest = store.latest_version(session, pipeline_id)
        if latest is None:
            raise FailedPrecondition(f"pipeline {pipeline_id!r} has no versions")
        return latest

    def version_for_new_run(self, pipeline_id: str | None, version_id: str) -> tuple[str, str]:
        """The pipeline id and spec digest of the version a run is being created from.

        Read once per version: a version's pipeline and spec never change. Whether it
        still exists is decided where the run is written (``missing_versions``), in the
        run's transaction."""
        known = self._run_versions.get(version_id)
        if known is None:
            with self.ctx.db.read() as session:
                version = self.resolve_version(session, None, version_id)
            known = (version.pipeline_id, version.spec_digest)
            self._run_versions.put(version_id, known)
        if pipeline_id and known[0] != pipeline_id:
            raise InvalidArgument(
                f"pipeline_version_reference: version {version_id!r} does not belong"
                f" to pipeline {pipeline_id!r}"
            )
        return known

    def missing_versions(self, session: Session, version_ids: set[str]) -> set[str]:
        """Which of these versions no longer exist (deleted since a run referred to them)."""
        missing = version_ids - store.existing_version_ids(session, sorted(version_ids))
        for version_id in missing:
            self._run_versions.forget(version_id)
        return missing

    # --- internals -------------------------------------------------------------------

    def _new_pipeline(self, data: PipelineInput) -> Pipeline:
        name = validation.optional_name("name", data.name)
        display_name = validation.optional_name("display_name", data.display_name)
        if not name and not display_name:
            raise InvalidArgument("name: a pipeline needs a name or a display_name")
        return Pipeline(
            pipeline_id=self.ctx.new_id(),
            name=name or display_name or "",
            display_name=display_name or name or "",
            description=validation.description("description", data.description),
            namespace=validation.namespace(data.namespace),
            tags=validation.tags("tags", data.tags),
            created_at=self.ctx.clock(),
        )

    @staticmethod
    def _insert_pipeline(session: Session, pipeline: Pipeline) -> None:
        if store.find_pipeline_by_name(session, pipeline.namespace, pipeline.name):
            raise AlreadyExists(
                f"pipeline {pipeline.name!r} already exists in namespace {pipeline.namespace!r}"
            )
        store.insert_pipeline(session, pipeline)

    def _package_of(self, version: VersionInput) -> tuple[PipelinePackage, str | None]:
        """The package a JSON version body names: inline spec xor package_url."""
        if version.pipeline_spec and version.package_url:
            raise InvalidArgument(
                "pipeline_version: give either pipeline_spec or package_url, not both"
            )
        if version.pipeline_spec:
            return package_from_body("pipeline_version.pipeline_spec", version.pipeline_spec), None
        if version.package_url:
            content, filename = fetch_package(
                version.package_url,
                max_bytes=self.ctx.max_upload_bytes,
                timeout_seconds=self.ctx.package_url_timeout_seconds,
            )
            return load_pipeline_package(
                content, filename, max_bytes=self.ctx.max_upload_bytes
            ), version.package_url
        raise InvalidArgument(
            "pipeline_version: one of pipeline_spec or package_url.pipeline_url is required"
        )

    def _insert_version(
        self,
        session: Session,
        pipeline: Pipeline,
        data: VersionInput,
        package: PipelinePackage,
        package_url: str | None,
        *,
        default_name: str | None,
    ) -> PipelineVersion:
        name = validation.optional_name("name", data.name)
        display_name = validation.optional_name("display_name", data.display_name)
        name = name or display_name or default_name
        if not name:
            raise InvalidArgument("name: a pipeline version needs a name or a display_name")
        digest = store_package(self.ctx, session, package)
        version = PipelineVersion(
            pipeline_version_id=self.ctx.new_id(),
            pipeline_id=pipeline.pipeline_id,
            name=name,
            display_name=display_name or name,
            description=validation.description("description", data.description),
            created_at=self.ctx.clock(),
            spec_digest=digest,
            package_url=package_url,
            code_source_url=validation.bounded("code_source_url", data.code_source_url, 2048)
            or None,
            tags=validation.tags("tags", data.tags),
        )
        if store.find_version_by_name(session, pipeline.pipeline_id, name):
            raise AlreadyExists(f"pipeline {pipeline.name!r} already has a version named {name!r}")
        store.insert_version(session, version)
        logger.info(
            "pipeline version created",
            extra={
                "pipeline_id": pipeline.pipeline_id,
                "pipeline_version_id": version.pipeline_version_id,
            },
        )
        return replace(version, pipeline_spec=wire_spec(document_of(package)))

    @staticmethod
    def _require(session: Session, pipeline_id: str) -> Pipeline:
        pipeline = store.get_pipeline(session, pipeline_id)
        if pipeline is None:
            raise NotFound(f"pipeline {pipeline_id!r} does not exist")
        return pipeline

    @staticmethod
    def _require_version(session: Session, pipeline_id: str, version_id: str) -> PipelineVersion:
        version = store.get_version(session, version_id)
        if version is None or version.pipeline_id != pipeline_id:
            raise NotFound(
                f"pipeline version {version_id!r} does not exist in pipeline {pipeline_id!r}"
            )
        return version


def _stem(filename: str | None) -> str | None:
    if not filename:
        return None
    name = PurePosixPath(filename.replace("\\", "/")).name
    for suffix in (".tar.gz", ".tgz", ".yaml", ".yml", ".json", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or None
    return name or None


def _mutable_values(data: PipelineInput) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if data.display_name is not None and data.display_name.strip():
        values["display_name"] = validation.required_name("display_name", data.display_name)
    if data.description is not None:
        values["description"] = validation.description("description", data.description)
    if data.tags is not None:
        values["tags"] = validation.tags("tags", data.tags)
    return values
