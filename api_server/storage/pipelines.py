"""Pipeline and pipeline-version rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, exists, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from api_server.listing import Field, FieldKind, ListOptions
from domain.resources import Pipeline, PipelineVersion
from domain.schema import in_chunks

from .listing_support import list_page
from .rows import PipelineRow, PipelineVersionRow

PIPELINES: Table = PipelineRow.__table__  # type: ignore[assignment]
VERSIONS: Table = PipelineVersionRow.__table__  # type: ignore[assignment]

PIPELINE_FIELDS = {
    "pipeline_id": Field(FieldKind.STRING, sortable=True),
    "name": Field(FieldKind.STRING, sortable=True),
    "display_name": Field(FieldKind.STRING, sortable=True),
    "description": Field(FieldKind.STRING),
    "created_at": Field(FieldKind.TIMESTAMP, sortable=True),
    "namespace": Field(FieldKind.STRING),
}
PIPELINE_COLUMNS: dict[str, Any] = {
    "pipeline_id": PIPELINES.c.pipeline_id,
    "name": PIPELINES.c.name,
    "display_name": PIPELINES.c.display_name,
    "description": PIPELINES.c.description,
    "created_at": PIPELINES.c.created_at,
    "namespace": PIPELINES.c.namespace,
}
VERSION_FIELDS = {
    "pipeline_version_id": Field(FieldKind.STRING, sortable=True),
    "name": Field(FieldKind.STRING, sortable=True),
    "display_name": Field(FieldKind.STRING, sortable=True),
    "description": Field(FieldKind.STRING),
    "created_at": Field(FieldKind.TIMESTAMP, sortable=True),
}
VERSION_COLUMNS: dict[str, Any] = {
    "pipeline_version_id": VERSIONS.c.pipeline_version_id,
    "name": VERSIONS.c.name,
    "display_name": VERSIONS.c.display_name,
    "description": VERSIONS.c.description,
    "created_at": VERSIONS.c.created_at,
}


def pipeline_to_domain(row: Any) -> Pipeline:
    return Pipeline(
        pipeline_id=row.pipeline_id,
        name=row.name,
        display_name=row.display_name,
        description=row.description,
        namespace=row.namespace,
        tags=row.tags,
        created_at=row.created_at,
    )


def version_to_domain(row: Any) -> PipelineVersion:
    return PipelineVersion(
        pipeline_version_id=row.pipeline_version_id,
        pipeline_id=row.pipeline_id,
        name=row.name,
        display_name=row.display_name,
        description=row.description,
        created_at=row.created_at,
        spec_digest=row.spec_digest,
        package_url=row.package_url,
        code_source_url=row.code_source_url,
        tags=row.tags,
    )


def insert_pipeline(session: Session, pipeline: Pipeline) -> None:
    session.add(
        PipelineRow(
            pipeline_id=pipeline.pipeline_id,
            name=pipeline.name,
            display_name=pipeline.display_name,
            description=pipeline.description,
            namespace=pipeline.namespace,
            tags=pipeline.tags,
            created_at=pipeline.created_at,
        )
    )
    session.flush()


def insert_version(session: Session, version: PipelineVersion) -> None:
    session.add(
        PipelineVersionRow(
            pipeline_version_id=version.pipeline_version_id,
            pipeline_id=version.pipeline_id,
            name=version.name,
            display_name=version.display_name,
            description=version.description,
            spec_digest=version.spec_digest,
            package_url=version.package_url,
            code_source_url=version.code_source_url,
            tags=version.tags,
            created_at=version.created_at,
        )
    )
    session.flush()


def get_pipeline(session: Session, pipeline_id: str) -> Pipeline | None:
    row = session.get(PipelineRow, pipeline_id)
    return None if row is None else pipeline_to_domain(row)


def find_pipeline_by_name(session: Session, namespace: str, name: str) -> Pipeline | None:
    row = session.execute(
        select(PipelineRow).where(PipelineRow.namespace == namespace, PipelineRow.name == name)
    ).scalar_one_or_none()
    return None if row is None else pipeline_to_domain(row)


def list_pipelines(
    session: Session, options: ListOptions, *, namespace: str | None, secret: bytes
) -> tuple[list[Pipeline], int, str]:
    stmt = select(PIPELINES)
    if namespace is not None:
        stmt = stmt.where(PIPELINES.c.namespace == namespace)
    rows, total, token = list_page(
        session, stmt, options, PIPELINE_COLUMNS, PIPELINES.c.pipeline_id, secret
    )
    return [pipeline_to_domain(r) for r in rows], total, token


def update_pipeline(session: Session, pipeline_id: str, values: dict[str, Any]) -> None:
    session.execute(
        update(PipelineRow).where(PipelineRow.pipeline_id == pipeline_id).values(**values)
    )


def has_versions(session: Session, pipeline_id: str) -> bool:
    return bool(
        session.execute(
            select(exists().where(PipelineVersionRow.pipeline_id == pipeline_id))
        ).scalar()
    )


def delete_pipeline(session: Session, pipeline_id: str) -> None:
    session.execute(
        sql_delete(PipelineVersionRow).where(PipelineVersionRow.pipeline_id == pipeline_id)
    )
    session.execute(sql_delete(PipelineRow).where(PipelineRow.pipeline_id == pipeline_id))


_GET_VERSION = select(VERSIONS).where(VERSIONS.c.pipeline_version_id == bindparam("version_id"))


def get_version(session: Session, version_id: str) -> PipelineVersion | None:
    row = session.connection().execute(_GET_VERSION, {"version_id": version_id}).one_or_none()
    return None if row is None else version_to_domain(row)


_EXISTING_VERSIONS = select(VERSIONS.c.pipeline_version_id).where(
    VERSIONS.c.pipeline_version_id.in_(bindparam("b_ids", expanding=True))
)


def existing_version_ids(session: Session, version_ids: list[str]) -> set[str]:
    """Which of ``version_ids`` exist (one primary-key lookup per IN list)."""
    connection = session.connection()
    return {
        version_id
        for chunk in in_chunks(version_ids)
        for version_id in connection.execute(_EXISTING_VERSIONS, {"b_ids": chunk}).scalars()
    }


def find_version_by_name(session: Session, pipeline_id: str, name: str) -> PipelineVersion | None:
    row = session.execute(
        select(PipelineVersionRow).where(
            PipelineVersionRow.pipeline_id == pipeline_id, PipelineVersionRow.name == name
        )
    ).scalar_one_or_none()
    return None if row is None else version_to_domain(row)


def latest_version(session: Session, pipeline_id: str) -> PipelineVersion | None:
    row = session.execute(
        select(PipelineVersionRow)
        .where(PipelineVersionRow.pipeline_id == pipeline_id)
        .order_by(
            PipelineVersionRow.created_at.desc(), PipelineVersionRow.pipeline_version_id.desc()
        )
        .limit(1)
    ).scalar_one_or_none()
    return None if row is None else version_to_domain(row)


def list_versions(
    session: Session, options: ListOptions, *, pipeline_id: str, secret: bytes
) -> tuple[list[PipelineVersion], int, str]:
    stmt = select(VERSIONS).where(VERSIONS.c.pipeline_id == pipeline_id)
    rows, total, token = list_page(
        session, stmt, options, VERSION_COLUMNS, VERSIONS.c.pipeline_version_id, secret
    )
    return [version_to_domain(r) for r in rows], total, token


def update_version(session: Session, version_id: str, values: dict[str, Any]) -> None:
    session.execute(
        update(PipelineVersionRow)
        .where(PipelineVersionRow.pipeline_version_id == version_id)
        .values(**values)
    )


def delete_version(session: Session, version_id: str) -> None:
    session.execute(
        sql_delete(PipelineVersionRow).where(PipelineVersionRow.pipeline_version_id == version_id)
    )
