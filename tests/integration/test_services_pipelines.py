"""PipelineService against each backend: pipelines and versions, names, deletion rules,
content-addressed spec storage and listing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from service_inputs import COMPILED, Clock

from api_server import build_services
from api_server.rest.dependencies import Services
from api_server.services import ListQuery, PipelineInput, PipelineSource, RunInput, VersionInput
from api_server.storage import Database
from domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
)
from domain.resources import Page, Pipeline
from domain.settings import Settings

SpecLoader = Callable[[str], dict[str, Any]]
Walk = Callable[..., list[Page[Any]]]
CountRows = Callable[[str], int]


def new_pipeline(
    services: Services, name: str, spec: dict[str, Any], namespace: str = "", version: str = "v1"
) -> Pipeline:
    return services.pipelines.create_with_version(
        PipelineInput(name=name, namespace=namespace),
        VersionInput(name=version, pipeline_spec=spec),
    )


def filter_of(*predicates: dict[str, Any]) -> str:
    return json.dumps({"predicates": list(predicates)})


# --- pipelines -------------------------------------------------------------------------------


def test_create_get_and_get_by_name(services: Services, clock: Clock) -> None:
    created = services.pipelines.create(
        PipelineInput(name="train", description="d", namespace="team-a", tags={"k": "v"})
    )
    assert (created.name, created.display_name) == ("train", "train")
    assert services.pipelines.get(created.pipeline_id) == created
    assert services.pipelines.get_by_name("train", "team-a") == created
    with pytest.raises(NotFound, match=r"pipeline named 'train' does not exist in namespace ''"):
        services.pipelines.get_by_name("train", None)
    with pytest.raises(NotFound, match=r"pipeline 'missing' does not exist"):
        services.pipelines.get("missing")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (PipelineInput(), "name"),
        (PipelineInput(name="  ", display_name=""), "name"),
        (PipelineInput(name="x" * 256), "name"),
        (PipelineInput(display_name="x" * 256), "display_name"),
        (PipelineInput(name="ok", namespace="n" * 64), "namespace"),
        (PipelineInput(name="ok", tags=["a"]), "tags"),
        (PipelineInput(name="ok", tags={"k": 1}), "tags"),
        (PipelineInput(name="ok", tags={str(i): "v" for i in range(21)}), "tags"),
    ],
)
def test_create_refuses_invalid_fields(
    services: Services, count_rows: CountRows, data: PipelineInput, field: str
) -> None:
    with pytest.raises(InvalidArgument, match=rf"^{field}"):
        services.pipelines.create(data)
    assert count_rows("pipelines") == 0


def test_display_name_alone_names_the_pipeline(services: Services) -> None:
    created = services.pipelines.create(PipelineInput(display_name="Shown"))
    assert (created.name, created.display_name) == ("Shown", "Shown")


def test_duplicate_name_in_a_namespace_is_refused(
    services: Services, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    services.pipelines.create(PipelineInput(name="p", namespace="team-a"))
    with pytest.raises(AlreadyExists, match=r"pipeline 'p' already exists in namespace 'team-a'"):
        services.pipelines.create(PipelineInput(name="p", namespace="team-a"))
    with pytest.raises(AlreadyExists, match=r"pipeline 'p' already exists"):
        new_pipeline(services, "p", compiled_spec("minimal"), namespace="team-a")
    assert count_rows("pipelines") == 1
    assert count_rows("pipeline_versions") == 0
    services.pipelines.create(PipelineInput(name="p", namespace="team-b"))
    services.pipelines.create(PipelineInput(name="p"))
    assert count_rows("pipelines") == 3


def test_names_are_case_sensitive(services: Services) -> None:
    upper = services.pipelines.create(PipelineInput(name="Pipe"))
    lower = services.pipelines.create(PipelineInput(name="pipe"))
    assert upper.pipeline_id != lower.pipeline_id
    assert services.pipelines.get_by_name("Pipe", "").pipeline_id == upper.pipeline_id
    assert services.pipelines.get_by_name("pipe", "").pipeline_id == lower.pipeline_id
    with pytest.raises(NotFound):
        services.pipelines.get_by_name("PIPE", "")


def test_update_changes_mutable_fields_only(services: Services) -> None:
    created = services.pipelines.create(PipelineInput(name="p", description="old"))
    updated = services.pipelines.update(
        created.pipeline_id, PipelineInput(display_name="Shown", description="new", tags={"a": "b"})
    )
    assert services.pipelines.get(created.pipeline_id) == updated
    assert (updated.name, updated.display_name, updated.description, updated.tags) == (
        "p",
        "Shown",
        "new",
        {"a": "b"},
    )
    with pytest.raises(InvalidArgument, match=r"^name: a pipeline's name cannot be changed"):
        services.pipelines.update(created.pipeline_id, PipelineInput(name="other"))
    with pytest.raises(NotFound):
        services.pipelines.update("missing", PipelineInput(description="x"))


def test_upload_names_the_pipeline_and_version_after_the_file(
    services: Services, count_rows: CountRows
) -> None:
    content = (COMPILED / "branches.yaml").read_bytes()
    uploaded = services.pipelines.upload(content, "my-branches.yaml", PipelineInput())
    assert uploaded.name == "my-branches"
    versions = services.pipelines.list_versions(uploaded.pipeline_id, ListQuery()).items
    assert [v.name for v in versions] == ["my-branches"]
    version = services.pipelines.get_version(uploaded.pipeline_id, versions[0].pipeline_version_id)
    assert version.pipeline_spec is not None
    assert version.pipeline_spec["pipelineInfo"]["name"] == "branches"
    with pytest.raises(AlreadyExists):
        services.pipelines.upload(content, "my-branches.yaml", PipelineInput())
    with pytest.raises(InvalidArgument, match=r"pipeline package 'empty.yaml': the file is empty"):
        services.pipelines.upload(b"", "empty.yaml", PipelineInput(name="empty"))
    assert (count_rows("pipelines"), count_rows("pipeline_versions")) == (1, 1)


def test_upload_over_the_limit_is_refused(services: Services) -> None:
    services.pipelines.ctx.max_upload_bytes = 100
    with pytest.raises(PayloadTooLarge, match=r"the limit is 100 bytes"):
        services.pipelines.upload(
            (COMPILED / "branches.yaml").read_bytes(), "b.yaml", PipelineInput()
        )


# --- versions --------------------------------------------------------------------------------


def test_versions_are_created_read_listed_updated_and_deleted(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    pipeline = new_pipeline(services, "p", compiled_spec("minimal"))
    second = services.pipelines.create_version(
        pipeline.pipeline_id,
        VersionInput(
            name="v2",
            description="second",
            pipeline_spec=compiled_spec("loops"),
            code_source_url="https://example.test/src",
            tags={"t": "1"},
        ),
    )
    assert second.pipeline_spec == compiled_spec("loops")
    read = services.pipelines.get_version(pipeline.pipeline_id, second.pipeline_version_id)
    assert read == second
    listed = services.pipelines.list_versions(pipeline.pipeline_id, ListQuery())
    assert [v.name for v in listed.items] == ["v1", "v2"]
    assert all(v.pipeline_spec is None for v in listed.items)  # lists carry no specs

    updated = services.pipelines.update_version(
        pipeline.pipeline_id, second.pipeline_version_id, VersionInput(display_name="Second")
    )
    assert updated.display_name == "Second"
    assert (
        services.pipelines.get_version(
            pipeline.pipeline_id, second.pipeline_version_id
        ).display_name
        == "Second"
    )
    with pytest.raises(
        InvalidArgument, match=r"^pipeline_spec: a version's spec cannot be changed"
    ):
        services.pipelines.update_version(
            pipeline.pipeline_id,
            second.pipeline_version_id,
            VersionInput(pipeline_spec=compiled_spec("minimal")),
        )
    with pytest.raises(InvalidArgument, match=r"^name: "):
        services.pipelines.update_version(
            pipeline.pipeline_id, second.pipeline_version_id, VersionInput(name="v3")
        )

    services.pipelines.delete_version(pipeline.pipeline_id, second.pipeline_version_id)
    with pytest.raises(NotFound, match=r"pipeline version .* does not exist in pipeline"):
        services.pipelines.get_version(pipeline.pipeline_id, second.pipeline_version_id)
    assert services.pipelines.list_versions(pipeline.pipeline_id, ListQuery()).total_size == 1


def test_duplicate_version_name_in_a_pipeline_is_refused(
    services: Services, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    first = new_pipeline(services, "first", compiled_spec("minimal"))
    second = new_pipeline(services, "second", compiled_spec("minimal"))
    with pytest.raises(AlreadyExists, match=r"pipeline 'first' already has a version named 'v1'"):
        services.pipelines.create_version(
            first.pipeline_id, VersionInput(name="v1", pipeline_spec=compiled_spec("loops"))
        )
    # Case matters, and another pipeline may use the same name.
    services.pipelines.create_version(
        first.pipeline_id, VersionInput(name="V1", pipeline_spec=compiled_spec("loops"))
    )
    services.pipelines.create_version(
        second.pipeline_id, VersionInput(name="v2", pipeline_spec=compiled_spec("loops"))
    )
    assert count_rows("pipeline_versions") == 4


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (VersionInput(name="v"), "^pipeline_version: one of pipeline_spec or package_url"),
        (
            VersionInput(name="v", pipeline_spec={"a": 1}, package_url="http://x.test/p.yaml"),
            "^pipeline_version: give either pipeline_spec or package_url",
        ),
        (VersionInput(name="v", pipeline_spec=[]), "^pipeline_version: one of"),
        (VersionInput(name="v", pipeline_spec={"a": 1}), "^pipeline_version.pipeline_spec: "),
        (
            VersionInput(name="v", package_url="ftp://x.test/p.yaml"),
            "^pipeline_version.package_url.pipeline_url: must be an http",
        ),
    ],
)
def test_create_version_refuses_bad_specs(
    services: Services, count_rows: CountRows, version: VersionInput, message: str
) -> None:
    pipeline = services.pipelines.create(PipelineInput(name="p"))
    with pytest.raises(InvalidArgument, match=message):
        services.pipelines.create_version(pipeline.pipeline_id, version)
    assert (count_rows("pipeline_versions"), count_rows("pipeline_specs")) == (0, 0)


def test_version_of_an_unknown_pipeline_is_not_found(
    services: Services, compiled_spec: SpecLoader
) -> None:
    with pytest.raises(NotFound, match=r"pipeline 'missing' does not exist"):
        services.pipelines.create_version(
            "missing", VersionInput(name="v", pipeline_spec=compiled_spec("minimal"))
        )
    with pytest.raises(NotFound):
        services.pipelines.list_versions("missing", ListQuery())
    other = new_pipeline(services, "other", compiled_spec("minimal"))
    version_id = services.pipelines.list_versions(other.pipeline_id, ListQuery()).items[0]
    mine = services.pipelines.create(PipelineInput(name="mine"))
    # A version is reached only through its own pipeline.
    with pytest.raises(NotFound, match=r"does not exist in pipeline"):
        services.pipelines.get_version(mine.pipeline_id, version_id.pipeline_version_id)
    with pytest.raises(NotFound, match=r"does not exist in pipeline"):
        services.pipelines.delete_version(mine.pipeline_id, version_id.pipeline_version_id)


def test_upload_version_names_it_after_the_file(services: Services) -> None:
    pipeline = services.pipelines.create(PipelineInput(name="p"))
    version = services.pipelines.upload_version(
        (COMPILED / "loops.yaml").read_bytes(),
        "loops-v7.yaml",
        pipeline.pipeline_id,
        VersionInput(),
    )
    assert version.name == "loops-v7"
    with pytest.raises(InvalidArgument, match=r"^pipelineid: required"):
        services.pipelines.upload_version(b"x", "x.yaml", None, VersionInput())


# --- specs are stored once -------------------------------------------------------------------


def test_identical_specs_share_one_stored_row(
    services: Services, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    first = new_pipeline(services, "a", compiled_spec("loops"))
    new_pipeline(services, "b", compiled_spec("loops"))
    services.pipelines.upload(
        (COMPILED / "loops.yaml").read_bytes(), "c.yaml", PipelineInput(name="c")
    )
    assert count_rows("pipeline_specs") == 1
    services.pipelines.create_version(
        first.pipeline_id, VersionInput(name="v2", pipeline_spec=compiled_spec("branches"))
    )
    assert count_rows("pipeline_specs") == 2
    assert count_rows("pipeline_versions") == 4


# --- delete ----------------------------------------------------------------------------------


def test_delete_without_cascade_refuses_a_pipeline_with_versions(
    services: Services, compiled_spec: SpecLoader
) -> None:
    pipeline = new_pipeline(services, "p", compiled_spec("minimal"))
    with pytest.raises(
        FailedPrecondition, match=r"has versions: delete them first or pass cascade"
    ):
        services.pipelines.delete(pipeline.pipeline_id, cascade=False)
    assert services.pipelines.get(pipeline.pipeline_id) == pipeline
    empty = services.pipelines.create(PipelineInput(name="empty"))
    services.pipelines.delete(empty.pipeline_id, cascade=False)
    with pytest.raises(NotFound):
        services.pipelines.get(empty.pipeline_id)
    with pytest.raises(NotFound):
        services.pipelines.delete(empty.pipeline_id, cascade=True)


def test_cascade_delete_removes_versions_but_runs_keep_their_specs(
    services: Services,
    settings: Settings,
    db: Database,
    clock: Clock,
    compiled_spec: SpecLoader,
    count_rows: CountRows,
) -> None:
    spec = compiled_spec("scalar_params")
    pipeline = new_pipeline(services, "p", spec)
    run = services.runs.create(
        RunInput(
            display_name="from-version",
            source=PipelineSource(pipeline_id=pipeline.pipeline_id),
            runtime_config={"parameters": {"label": "kept"}},
        )
    )
    assert run.pipeline_version_id is not None

    services.pipelines.delete(pipeline.pipeline_id, cascade=True)

    with pytest.raises(NotFound):
        services.pipelines.get(pipeline.pipeline_id)
    with pytest.raises(NotFound):
        services.pipelines.get_version(pipeline.pipeline_id, run.pipeline_version_id)
    assert count_rows("pipeline_versions") == 0
    assert count_rows("pipeline_specs") == 1
    # Read through services with an empty spec cache, so the spec comes from the database.
    fresh = build_services(settings, db)
    again = fresh.runs.get(run.run_id)
    assert (again.pipeline_id, again.pipeline_version_id) == (
        pipeline.pipeline_id,
        run.pipeline_version_id,
    )
    [resumable] = fresh.runs.list_unfinished()
    assert resumable.run_id == run.run_id
    assert resumable.pipeline_spec == spec
    assert resumable.parameters == {"label": "kept"}
    # A new run can no longer name the deleted version.
    with pytest.raises(NotFound, match=r"pipeline version .* does not exist"):
        fresh.runs.create(
            RunInput(
                display_name="late",
                source=PipelineSource(pipeline_version_id=run.pipeline_version_id),
            )
        )


# --- runs resolve versions -------------------------------------------------------------------


def test_run_without_version_id_uses_the_latest_version(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    pipeline = new_pipeline(services, "p", compiled_spec("minimal"))
    latest = services.pipelines.create_version(
        pipeline.pipeline_id, VersionInput(name="v2", pipeline_spec=compiled_spec("loops"))
    )
    run = services.runs.create(
        RunInput(display_name="r", source=PipelineSource(pipeline_id=pipeline.pipeline_id))
    )
    assert run.pipeline_version_id == latest.pipeline_version_id
    assert run.pipeline_spec is None  # a version run refers to the version's spec


def test_run_version_references_are_checked(
    services: Services, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    first = new_pipeline(services, "first", compiled_spec("minimal"))
    second = new_pipeline(services, "second", compiled_spec("minimal"))
    empty = services.pipelines.create(PipelineInput(name="empty"))
    second_version = services.pipelines.list_versions(second.pipeline_id, ListQuery()).items[0]
    cases: list[tuple[PipelineSource, type[Exception], str]] = [
        (
            PipelineSource(
                pipeline_id=first.pipeline_id,
                pipeline_version_id=second_version.pipeline_version_id,
            ),
            InvalidArgument,
            "^pipeline_version_reference: version .* does not belong to pipeline",
        ),
        (PipelineSource(pipeline_version_id="missing"), NotFound, "version 'missing' does not"),
        (PipelineSource(pipeline_id="missing"), NotFound, "pipeline 'missing' does not exist"),
        (PipelineSource(pipeline_id=empty.pipeline_id), FailedPrecondition, "has no versions"),
        (PipelineSource(), InvalidArgument, "^pipeline_version_reference: a run needs"),
        (
            PipelineSource(pipeline_id=first.pipeline_id, pipeline_spec=compiled_spec("minimal")),
            InvalidArgument,
            "^pipeline_spec: give either pipeline_spec or pipeline_version_reference",
        ),
    ]
    for source, error, message in cases:
        with pytest.raises(error, match=message):
            services.runs.create(RunInput(display_name="r", source=source))
    assert count_rows("runs") == 0


# --- listing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 4, 17, 50])
def test_walking_pages_yields_each_pipeline_once(
    services: Services, clock: Clock, walk_pages: Walk, page_size: int
) -> None:
    created = [services.pipelines.create(PipelineInput(name=f"p-{i:02d}")) for i in range(17)]
    pages = walk_pages(lambda q: services.pipelines.list(q, None), page_size=page_size)
    assert [p.pipeline_id for page in pages for p in page.items] == [p.pipeline_id for p in created]
    assert {page.total_size for page in pages} == {17}
    assert len(pages) == -(-17 // page_size)


def test_list_pipelines_sorts_filters_and_scopes(
    services: Services, clock: Clock, walk_pages: Walk
) -> None:
    names = ["trainer", "evaluator", "loader", "tuner", "exporter"]
    for i, name in enumerate(names):
        services.pipelines.create(PipelineInput(name=name, namespace="a" if i % 2 else "b"))

    def listed(namespace: str | None = None, **kwargs: Any) -> list[str]:
        pages = walk_pages(lambda q: services.pipelines.list(q, namespace), page_size=2, **kwargs)
        return [p.name for page in pages for p in page.items]

    assert listed(sort_by="name") == sorted(names)
    assert listed(sort_by="name desc") == sorted(names, reverse=True)
    assert listed(sort_by="created_at desc") == list(reversed(names))
    assert listed("a") == ["evaluator", "tuner"]
    assert listed("b", sort_by="display_name desc") == ["trainer", "loader", "exporter"]
    substring = filter_of({"key": "name", "operation": "IS_SUBSTRING", "string_value": "er"})
    assert listed(filter=substring, sort_by="name") == ["exporter", "loader", "trainer", "tuner"]
    either = filter_of(
        {"key": "name", "operation": "IN", "string_values": {"values": ["tuner", "loader"]}}
    )
    assert listed(filter=either) == ["loader", "tuner"]
    assert listed("c") == []


def test_list_versions_pages_and_sorts(
    services: Services, clock: Clock, walk_pages: Walk, compiled_spec: SpecLoader
) -> None:
    pipeline = new_pipeline(services, "p", compiled_spec("minimal"), version="v00")
    for i in range(1, 12):
        services.pipelines.create_version(
            pipeline.pipeline_id,
            VersionInput(name=f"v{i:02d}", pipeline_spec=compiled_spec("minimal")),
        )
    other = new_pipeline(services, "other", compiled_spec("minimal"))

    def listed(**kwargs: Any) -> list[Page[Any]]:
        return walk_pages(
            lambda q: services.pipelines.list_versions(pipeline.pipeline_id, q), **kwargs
        )

    pages = listed(page_size=5, sort_by="name desc")
    assert [v.name for p in pages for v in p.items] == [f"v{i:02d}" for i in range(11, -1, -1)]
    assert {p.total_size for p in pages} == {12}
    recent = filter_of({"key": "name", "operation": "GREATER_THAN", "string_value": "v08"})
    assert [v.name for p in listed(page_size=2, filter=recent) for v in p.items] == [
        "v09",
        "v10",
        "v11",
    ]
    token = listed(page_size=5)[0].next_page_token
    with pytest.raises(InvalidArgument, match=r"^page_token: "):
        services.pipelines.list_versions(
            other.pipeline_id, ListQuery(page_size=5, page_token=token)
        )
