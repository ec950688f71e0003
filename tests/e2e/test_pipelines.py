"""Pipelines and versions through kfp.Client: upload formats, names, lookups, PATCH, delete."""

from __future__ import annotations

import functools
import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import kfp_server_api
import pytest
from kfp_server_api import ApiException

from tests.e2e.conftest import free_port
from tests.e2e.support import (
    CORPUS,
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    api_error,
    assert_error,
    corpus,
    corpus_documents,
    unique,
)

pytestmark = pytest.mark.e2e


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def package_host() -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1 serving the compiled corpus."""
    handler = functools.partial(_QuietHandler, directory=str(CORPUS))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _only_version(kfp_client, pipeline_id: str):
    versions = kfp_client.list_pipeline_versions(pipeline_id).pipeline_versions
    assert versions is not None and len(versions) == 1, versions
    return versions[0]


def _spec_of(kfp_client, pipeline_id: str, version_id: str) -> dict:
    return kfp_client.get_pipeline_version(pipeline_id, version_id).pipeline_spec


def test_upload_with_spaces_and_slash_then_find_it_by_name(kfp_client, api) -> None:
    name = unique("team a/pipe line")
    pipeline = kfp_client.upload_pipeline(
        str(corpus("scalar_params")), pipeline_name=name, description="scalar inputs"
    )

    assert pipeline.name == pipeline.display_name == name
    assert pipeline.description == "scalar inputs"
    assert isinstance(pipeline.created_at, datetime)
    assert kfp_client.get_pipeline_id(name) == pipeline.pipeline_id
    assert kfp_client.get_pipeline_id(unique("nobody / here")) is None
    fetched = kfp_client.get_pipeline(pipeline.pipeline_id)
    assert (fetched.name, fetched.description) == (name, "scalar inputs")
    # The upload created a first version named after the pipeline.
    version = _only_version(kfp_client, pipeline.pipeline_id)
    assert version.name == name
    assert version.pipeline_id == pipeline.pipeline_id

    # pipelines/names/{name}: percent-encoded, '/' as %2F, as the generated client sends it.
    raw = api.get(f"/pipelines/names/{quote(name, safe='')}")
    assert raw.status_code == 200, raw.text
    assert raw.json()["pipeline_id"] == pipeline.pipeline_id
    by_name = kfp_client.pipelines.pipeline_service_get_pipeline_by_name(name=name)
    assert by_name.pipeline_id == pipeline.pipeline_id
    missing = api.get(f"/pipelines/names/{quote(unique('no such/pipe'), safe='')}")
    assert_error(missing, 404, NOT_FOUND, "no such/pipe")


@pytest.mark.parametrize(
    "template",
    [
        " padded {} ",
        "100% sure?#{}&y=1",
        "ünïcødé ✓ {}",
        "a+b {}",
        "a//{}/versions",
    ],
    ids=["padded", "url-specials", "unicode", "plus", "double-slash"],
)
def test_pipeline_names_round_trip_exactly(kfp_client, api, template) -> None:
    name = template.format(unique("p"))
    pipeline = kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=name)

    assert pipeline.name == name
    assert kfp_client.get_pipeline_id(name) == pipeline.pipeline_id
    by_name = kfp_client.pipelines.pipeline_service_get_pipeline_by_name(name=name)
    assert by_name.pipeline_id == pipeline.pipeline_id
    raw = api.get(f"/pipelines/names/{quote(name, safe='')}")
    assert raw.status_code == 200, raw.text
    assert raw.json()["name"] == name


def test_upload_version_by_id_and_by_pipeline_name(kfp_client) -> None:
    name = unique("versioned pipeline/x")
    pipeline = kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=name)
    by_id = kfp_client.upload_pipeline_version(
        str(corpus("branches")),
        pipeline_version_name="v2 branches",
        pipeline_id=pipeline.pipeline_id,
        description="second",
    )
    by_name = kfp_client.upload_pipeline_version(
        str(corpus("loops")), pipeline_version_name="v3 loops", pipeline_name=name
    )

    assert by_id.pipeline_id == by_name.pipeline_id == pipeline.pipeline_id
    assert (by_id.name, by_id.display_name, by_id.description) == (
        "v2 branches",
        "v2 branches",
        "second",
    )
    listed = kfp_client.list_pipeline_versions(pipeline.pipeline_id, sort_by="created_at")
    assert [v.name for v in listed.pipeline_versions] == [name, "v2 branches", "v3 loops"]
    assert listed.total_size == 3
    newest = kfp_client.list_pipeline_versions(
        pipeline.pipeline_id, page_size=1, sort_by="created_at desc"
    )
    assert [v.pipeline_version_id for v in newest.pipeline_versions] == [
        by_name.pipeline_version_id
    ]

    # get_pipeline_version returns the stored spec, equal to the compiled document.
    got = kfp_client.get_pipeline_version(pipeline.pipeline_id, by_id.pipeline_version_id)
    assert got.pipeline_spec == corpus_documents("branches")[0]
    assert got.pipeline_spec["pipelineInfo"]["name"] == "branches"
    loops_spec = _spec_of(kfp_client, pipeline.pipeline_id, by_name.pipeline_version_id)
    assert loops_spec == corpus_documents("loops")[0]

    with pytest.raises(ApiException) as caught:
        kfp_client.upload_pipeline_version(
            str(corpus("loops")), pipeline_version_name="v3 loops", pipeline_id=pipeline.pipeline_id
        )
    assert caught.value.status == 409


def test_patch_display_names_of_pipeline_and_version(kfp_client) -> None:
    name = unique("patch me")
    pipeline = kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=name)
    version = _only_version(kfp_client, pipeline.pipeline_id)

    updated = kfp_client.pipelines.pipeline_service_update_pipeline(
        pipeline.pipeline_id, kfp_server_api.InlineObject(display_name="Renamed pipeline")
    )
    updated_version = kfp_client.pipelines.pipeline_service_update_pipeline_version(
        pipeline.pipeline_id,
        version.pipeline_version_id,
        kfp_server_api.InlineObject1(display_name="Renamed version"),
    )

    assert updated.display_name == "Renamed pipeline"
    assert updated.name == name
    assert updated_version.display_name == "Renamed version"
    # The update answers with the whole version, as a get would.
    assert updated_version.pipeline_spec == corpus_documents("minimal")[0]
    fetched = kfp_client.get_pipeline(pipeline.pipeline_id)
    assert (fetched.name, fetched.display_name) == (name, "Renamed pipeline")
    fetched_version = kfp_client.get_pipeline_version(
        pipeline.pipeline_id, version.pipeline_version_id
    )
    assert (fetched_version.name, fetched_version.display_name) == (name, "Renamed version")
    # The spec survives a metadata update.
    assert fetched_version.pipeline_spec == corpus_documents("minimal")[0]

    # The name is the key: it cannot be changed, and a rename attempt changes nothing.
    with pytest.raises(ApiException) as caught:
        kfp_client.pipelines.pipeline_service_update_pipeline(
            pipeline.pipeline_id, kfp_server_api.InlineObject(name="other", display_name="x")
        )
    assert caught.value.status == 400
    assert "name" in api_error(caught.value)["message"]
    assert kfp_client.get_pipeline(pipeline.pipeline_id).display_name == "Renamed pipeline"


def test_delete_version_then_pipeline_needs_cascade(kfp_client, api) -> None:
    pipeline = kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=unique("del"))
    pid = pipeline.pipeline_id
    first = _only_version(kfp_client, pid)
    second = kfp_client.upload_pipeline_version(
        str(corpus("importing")), pipeline_version_name="second", pipeline_id=pid
    )

    kfp_client.delete_pipeline_version(pid, first.pipeline_version_id)

    with pytest.raises(ApiException) as caught:
        kfp_client.get_pipeline_version(pid, first.pipeline_version_id)
    assert caught.value.status == 404
    assert [
        v.pipeline_version_id for v in kfp_client.list_pipeline_versions(pid).pipeline_versions
    ] == [second.pipeline_version_id]

    # Without cascade a pipeline that still has versions is refused (FailedPrecondition).
    with pytest.raises(ApiException) as caught:
        kfp_client.delete_pipeline(pid)
    assert caught.value.status == 400
    assert api_error(caught.value)["code"] == FAILED_PRECONDITION
    assert_error(api.delete(f"/pipelines/{pid}"), 400, FAILED_PRECONDITION, "cascade")
    assert kfp_client.get_pipeline(pid).pipeline_id == pid

    kfp_client.pipelines.pipeline_service_delete_pipeline(pid, cascade=True)

    for call in (
        lambda: kfp_client.get_pipeline(pid),
        lambda: kfp_client.get_pipeline_version(pid, second.pipeline_version_id),
        lambda: kfp_client.list_pipeline_versions(pid),
    ):
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == 404
    assert kfp_client.get_pipeline_id(pipeline.name) is None


def test_delete_pipeline_without_versions_needs_no_cascade(kfp_client) -> None:
    pipeline = kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=unique("bare"))
    version = _only_version(kfp_client, pipeline.pipeline_id)
    kfp_client.delete_pipeline_version(pipeline.pipeline_id, version.pipeline_version_id)

    kfp_client.delete_pipeline(pipeline.pipeline_id)

    with pytest.raises(ApiException) as caught:
        kfp_client.get_pipeline(pipeline.pipeline_id)
    assert caught.value.status == 404


def test_runs_made_from_a_deleted_pipeline_keep_their_spec(kfp_client) -> None:
    pipeline = kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=unique("gone"))
    version = _only_version(kfp_client, pipeline.pipeline_id)
    experiment = kfp_client.create_experiment(unique("pipelines exp"))
    run = kfp_client.run_pipeline(
        experiment_id=experiment.experiment_id,
        job_name="from version",
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
    )

    kfp_client.pipelines.pipeline_service_delete_pipeline(pipeline.pipeline_id, cascade=True)

    assert kfp_client.get_run(run.run_id).state == "PENDING"


def _json_package(tmp_path: Path) -> Path:
    path = tmp_path / "minimal.json"
    path.write_text(json.dumps(corpus_documents("minimal")[0]))
    return path


def _zip_package(tmp_path: Path) -> Path:
    path = tmp_path / "workspace.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pipeline.yaml", corpus("workspace_config").read_text())
    return path


def _tar_gz_package(tmp_path: Path) -> Path:
    path = tmp_path / "loops.tar.gz"
    data = corpus("loops").read_bytes()
    with tarfile.open(path, "w:gz") as archive:
        member = tarfile.TarInfo("pipeline.yaml")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("build", "source"),
    [(_json_package, "minimal"), (_zip_package, "workspace_config"), (_tar_gz_package, "loops")],
    ids=["json", "zip", "tar.gz"],
)
def test_upload_json_zip_and_tar_gz_packages(kfp_client, tmp_path, build, source) -> None:
    package = build(tmp_path)
    name = unique(f"packaged {package.name}")

    pipeline = kfp_client.upload_pipeline(str(package), pipeline_name=name)
    version_upload = kfp_client.upload_pipeline_version(
        str(package), pipeline_version_name="again", pipeline_id=pipeline.pipeline_id
    )

    documents = corpus_documents(source)
    expected = (
        documents[0]
        if len(documents) == 1
        else {"pipeline_spec": documents[0], "platform_spec": documents[1]}
    )
    versions = kfp_client.list_pipeline_versions(pipeline.pipeline_id, sort_by="created_at")
    assert [v.name for v in versions.pipeline_versions] == [name, "again"]
    for version in versions.pipeline_versions:
        assert _spec_of(kfp_client, pipeline.pipeline_id, version.pipeline_version_id) == expected
    assert version.pipeline_version_id == version_upload.pipeline_version_id


def test_platform_spec_upload_returns_the_wrapper_shape(kfp_client) -> None:
    pipeline = kfp_client.upload_pipeline(
        str(corpus("workspace_config")), pipeline_name=unique("workspace")
    )
    version = _only_version(kfp_client, pipeline.pipeline_id)
    spec = _spec_of(kfp_client, pipeline.pipeline_id, version.pipeline_version_id)

    assert set(spec) == {"pipeline_spec", "platform_spec"}
    assert spec["pipeline_spec"]["pipelineInfo"]["name"] == "workspace-config"
    workspace = spec["platform_spec"]["platforms"]["kubernetes"]["pipelineConfig"]["workspace"]
    assert workspace["size"] == "2Gi"


def test_create_pipeline_and_version_from_package_url(kfp_client, package_host) -> None:
    url = f"{package_host}/container_steps.yaml"
    name = unique("from url/with slash")
    body = kfp_server_api.V2beta1CreatePipelineAndVersionRequest(
        pipeline=kfp_server_api.V2beta1Pipeline(display_name=name, name=name),
        pipeline_version=kfp_server_api.V2beta1PipelineVersion(
            package_url=kfp_server_api.V2beta1Url(pipeline_url=url)
        ),
    )

    pipeline = kfp_client.pipelines.pipeline_service_create_pipeline_and_version(body)

    assert pipeline.name == name
    assert kfp_client.get_pipeline_id(name) == pipeline.pipeline_id
    version = _only_version(kfp_client, pipeline.pipeline_id)
    assert version.package_url.pipeline_url == url
    assert (
        _spec_of(kfp_client, pipeline.pipeline_id, version.pipeline_version_id)
        == corpus_documents("container_steps")[0]
    )

    # A further version from a URL, through POST /pipelines/{id}/versions.
    second = kfp_client.pipelines.pipeline_service_create_pipeline_version(
        pipeline.pipeline_id,
        kfp_server_api.V2beta1PipelineVersion(
            display_name="from url v2",
            package_url=kfp_server_api.V2beta1Url(pipeline_url=f"{package_host}/importing.yaml"),
        ),
    )
    assert second.display_name == "from url v2"
    assert (
        _spec_of(kfp_client, pipeline.pipeline_id, second.pipeline_version_id)["pipelineInfo"][
            "name"
        ]
        == "importing"
    )


def test_package_url_failures_are_400_with_a_clear_message(kfp_client, api, package_host) -> None:
    closed = f"http://127.0.0.1:{free_port()}/pipeline.yaml"
    name = unique("unreachable")
    body = {
        "pipeline": {"display_name": name},
        "pipeline_version": {"package_url": {"pipeline_url": closed}},
    }

    message = assert_error(api.post("/pipelines/create", json=body), 400, INVALID_ARGUMENT, closed)
    assert "package_url" in message

    missing = f"{package_host}/no_such_file.yaml"
    body["pipeline_version"]["package_url"]["pipeline_url"] = missing
    assert_error(api.post("/pipelines/create", json=body), 400, INVALID_ARGUMENT, missing, "404")

    not_http = "file:///etc/passwd"
    body["pipeline_version"]["package_url"]["pipeline_url"] = not_http
    assert_error(api.post("/pipelines/create", json=body), 400, INVALID_ARGUMENT, "http")

    # Nothing was half-written: no pipeline by that name.
    assert kfp_client.get_pipeline_id(name) is None
    with pytest.raises(ApiException) as caught:
        kfp_client.pipelines.pipeline_service_create_pipeline_and_version(
            kfp_server_api.V2beta1CreatePipelineAndVersionRequest(
                pipeline=kfp_server_api.V2beta1Pipeline(display_name=name),
                pipeline_version=kfp_server_api.V2beta1PipelineVersion(
                    package_url=kfp_server_api.V2beta1Url(pipeline_url=closed)
                ),
            )
        )
    assert caught.value.status == 400


def test_list_pipelines_filters_by_name_and_pages(kfp_client) -> None:
    prefix = unique("listed pipe")
    names = [f"{prefix} {i}" for i in (3, 1, 2)]
    ids = {
        kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=n).pipeline_id
        for n in names
    }
    wanted = json.dumps(
        {"predicates": [{"key": "name", "operation": "IS_SUBSTRING", "string_value": prefix}]}
    )

    first = kfp_client.list_pipelines(page_size=2, sort_by="name desc", filter=wanted)
    rest = kfp_client.list_pipelines(
        page_size=2, sort_by="name desc", filter=wanted, page_token=first.next_page_token
    )

    assert first.total_size == rest.total_size == 3
    pipelines = first.pipelines + rest.pipelines
    assert [p.name for p in pipelines] == sorted(names, reverse=True)
    assert {p.pipeline_id for p in pipelines} == ids
    assert not rest.next_page_token


def test_duplicate_pipeline_name_is_409(kfp_client, api) -> None:
    name = unique("twice")
    kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=name)
    with pytest.raises(ApiException) as caught:
        kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=name)
    assert caught.value.status == 409
    assert api_error(caught.value)["code"] == 6
