"""The artifact store against a local folder and a real S3 server (moto over HTTP and TLS)."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest

from api_server.backends.embedded.artifact_store import (
    ArtifactNotFound,
    ArtifactStore,
    ArtifactStoreError,
    ArtifactStoreUnavailable,
    S3Config,
)
from domain.settings import Settings
from tests.s3_server import S3Server

MODEL = {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"}


def settings_for(server: S3Server, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "artifact_s3_endpoint": server.endpoint,
        "artifact_s3_access_key": server.access_key,
        "artifact_s3_secret_key": server.secret_key,
        "artifact_s3_secure": server.secure,
        "artifact_s3_region": server.region,
        "artifact_s3_ca_bundle": server.ca_bundle,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def store(s3_server: S3Server, tmp_path: Path) -> ArtifactStore:
    return ArtifactStore.from_settings(settings_for(s3_server, tmp_path))


@pytest.fixture
def root(s3_server: S3Server, request: pytest.FixtureRequest) -> str:
    # A prefix of its own per test: the server and its bucket live for the whole session.
    return f"s3://{s3_server.bucket}/roots/{request.node.name.replace('[', '-').rstrip(']')}"


def artifact(uri: str, name: str = "model", **metadata: Any) -> dict[str, Any]:
    return {"name": name, "uri": uri, "type": MODEL, "metadata": metadata}


def write_output_folder(
    store: ArtifactStore, uri: str, staging: Path, files: dict[str, bytes]
) -> Path:
    """What a task does for a folder-shaped output: files under the artifact's local path."""
    folder = store.prepare_output(uri, staging)
    for relative, content in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(content)
    return folder


def assert_no_content(store: ArtifactStore, uri: str) -> None:
    with pytest.raises(ArtifactNotFound, match="has no content"):
        store.open(uri)
    with pytest.raises(ArtifactNotFound, match="has no content"):
        store.size(uri)


def read_object(server: S3Server, key: str) -> bytes:
    response = server.client().get_object(bucket_name=server.bucket, object_name=key)
    try:
        return bytes(response.read())
    finally:
        response.close()
        response.release_conn()


def object_names(server: S3Server, prefix: str) -> list[str]:
    listing = server.client().list_objects(bucket_name=server.bucket, prefix=prefix, recursive=True)
    return sorted(item.object_name or "" for item in listing)


# --- uris --------------------------------------------------------------------------------


def test_output_uris_under_each_kind_of_root(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts", s3=S3Config("127.0.0.1:1", "a", "b"))
    default = str((tmp_path / "artifacts").resolve())
    assert store.output_uri("", "run-1", "train", "model") == f"{default}/run-1/train/model"
    assert store.output_uri("/srv/root/", "r", "loop-2/iteration-0/train", "m") == (
        "/srv/root/r/loop-2/iteration-0/train/m"
    )
    assert store.output_uri("file:///srv/root", "r", "t", "m") == "/srv/root/r/t/m"
    assert store.output_uri("s3://bucket/some/prefix/", "r", "t", "m") == (
        "s3://bucket/some/prefix/r/t/m"
    )
    assert store.output_uri("minio://bucket", "r", "t", "m") == "minio://bucket/r/t/m"


@pytest.mark.parametrize(
    ("root", "run_id", "task_path", "name", "message"),
    [
        ("gs://bucket/x", "r", "t", "m", "scheme 'gs' of 'gs://bucket/x' is not supported"),
        ("relative/root", "r", "t", "m", "neither an absolute path nor"),
        ("file://relative", "r", "t", "m", "must be file:///absolute/path"),
        ("s3:///prefix", "r", "t", "m", "names no bucket"),
        ("s3://bucket/a/../b", "r", "t", "m", "not a relative path of plain names"),
        ("/root", "..", "t", "m", "run_id: '..' is not a relative path"),
        ("/root", "r", "a/../../etc", "m", "task_path: 'a/../../etc' is not a relative path"),
        ("/root", "r", "/abs", "m", "task_path: '/abs' is not a relative path"),
        ("/root", "r", "t", "a/b", "artifact name 'a/b' must not contain '/'"),
        ("/root", "r", "t", "", "artifact name: '' is not a relative path"),
    ],
)
def test_bad_roots_and_names_are_refused(
    tmp_path: Path, root: str, run_id: str, task_path: str, name: str, message: str
) -> None:
    store = ArtifactStore(tmp_path, s3=S3Config("127.0.0.1:1", "a", "b"))
    with pytest.raises(ArtifactStoreError) as excinfo:
        store.output_uri(root, run_id, task_path, name)
    assert message in excinfo.value.message


def test_an_s3_root_without_an_endpoint_says_what_to_configure(tmp_path: Path) -> None:
    store = ArtifactStore.from_settings(Settings(data_dir=tmp_path))
    with pytest.raises(ArtifactStoreError, match="HEADRACE_ARTIFACT_S3_ENDPOINT"):
        store.resolve_root("s3://bucket/prefix")
    assert store.resolve_root(None) == str((tmp_path / "artifacts").resolve())


def test_remote_uris_map_to_staging_paths_and_back(store: ArtifactStore, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    uri = "minio://bucket/root/r/t/model"
    assert store.local_path(uri, staging) == staging / "minio" / "bucket" / "root/r/t/model"
    assert store.local_path("/abs/r/t/model", staging) == Path("/abs/r/t/model")
    path = store.prepare_output(uri, staging)
    assert path.parent.is_dir() and not path.exists()


# --- local root --------------------------------------------------------------------------


def test_a_local_root_needs_no_copying(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    uri = store.output_uri("", "run-1", "train", "model")
    path = store.prepare_output(uri, tmp_path / "staging")
    assert str(path) == uri
    path.write_bytes(b"weights")
    outputs = {"model": [artifact(uri, accuracy=0.9)]}
    assert store.publish_outputs(outputs, tmp_path / "staging") == outputs
    assert store.stage_inputs(outputs, tmp_path / "staging") == outputs
    assert not (tmp_path / "staging").exists()
    with store.open(uri) as stream:
        assert stream.read() == b"weights"
    assert store.size(uri) == 7


def test_local_folders_and_missing_content(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    folder = Path(store.output_uri("", "r", "t", "data"))
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"12345")
    (folder / "sub" / "b.txt").write_bytes(b"678")
    assert store.size(str(folder)) == 8
    with pytest.raises(ArtifactStoreError, match="is a folder, not a file"):
        store.open(str(folder))
    assert_no_content(store, store.output_uri("", "r", "t", "absent"))


# --- S3 ----------------------------------------------------------------------------------


def test_a_file_artifact_round_trips_through_s3(
    store: ArtifactStore, root: str, s3_server: S3Server, tmp_path: Path
) -> None:
    uri = store.output_uri(root, "run-1", "train", "model")
    writer_staging = tmp_path / "writer"
    # The task writes to its local path; the executor reports that path back as the uri.
    local = store.prepare_output(uri, writer_staging)
    local.write_bytes(b"model weights \x00\xff")
    published = store.publish_outputs({"model": [artifact(str(local), epochs=3)]}, writer_staging)
    assert published == {"model": [artifact(uri, epochs=3)]}
    key = uri.removeprefix(f"s3://{s3_server.bucket}/")
    assert read_object(s3_server, key) == b"model weights \x00\xff"

    reader_staging = tmp_path / "reader"
    staged = store.stage_inputs(published, reader_staging)
    staged_path = Path(staged["model"][0]["uri"])
    assert staged_path == store.local_path(uri, reader_staging)
    assert staged_path.read_bytes() == b"model weights \x00\xff"
    assert staged["model"][0]["metadata"] == {"epochs": 3}
    assert [p.name for p in staged_path.parent.iterdir()] == ["model"]  # no partial files

    with store.open(uri) as stream:
        assert stream.read() == b"model weights \x00\xff"
    assert store.size(uri) == 16


def test_a_folder_artifact_round_trips_through_s3(
    store: ArtifactStore, root: str, s3_server: S3Server, tmp_path: Path
) -> None:
    uri = store.output_uri(root, "run-1", "loop/iteration-1/prepare", "dataset")
    files = {"index.html": b"<p>x</p>", "part/0.csv": b"a,b\n1,2\n", "part/deep/1.bin": b"\x01" * 3}
    write_output_folder(store, uri, tmp_path / "writer", files)
    published = store.publish_outputs({"dataset": [artifact(uri, "dataset")]}, tmp_path / "writer")
    key = uri.removeprefix(f"s3://{s3_server.bucket}/")
    assert object_names(s3_server, key) == sorted(f"{key}/{name}" for name in files)
    stat = s3_server.client().stat_object(
        bucket_name=s3_server.bucket, object_name=f"{key}/index.html"
    )
    assert stat.content_type == "text/html"

    staged = store.stage_inputs(published, tmp_path / "reader")
    staged_folder = Path(staged["dataset"][0]["uri"])
    assert {
        p.relative_to(staged_folder).as_posix(): p.read_bytes()
        for p in staged_folder.rglob("*")
        if p.is_file()
    } == files
    assert store.size(uri) == sum(len(content) for content in files.values())
    with pytest.raises(ArtifactStoreError, match="is a folder, not a file"):
        store.open(uri)


def test_publishing_again_replaces_an_earlier_attempt(
    store: ArtifactStore, root: str, s3_server: S3Server, tmp_path: Path
) -> None:
    uri = store.output_uri(root, "run-1", "train", "checkpoints")
    key = uri.removeprefix(f"s3://{s3_server.bucket}/")
    store.prepare_output(uri, tmp_path / "file").write_bytes(b"a single file")
    store.publish_outputs({"c": [artifact(uri)]}, tmp_path / "file")
    assert object_names(s3_server, key) == [key]

    write_output_folder(store, uri, tmp_path / "first", {"a": b"first a", "b": b"first b"})
    store.publish_outputs({"c": [artifact(uri)]}, tmp_path / "first")
    assert object_names(s3_server, key) == [f"{key}/a", f"{key}/b"]

    write_output_folder(store, uri, tmp_path / "retry", {"a": b"second a"})
    store.publish_outputs({"c": [artifact(uri)]}, tmp_path / "retry")
    assert object_names(s3_server, key) == [f"{key}/a"]
    assert read_object(s3_server, f"{key}/a") == b"second a"

    store.prepare_output(uri, tmp_path / "file-again").write_bytes(b"a file again")
    store.publish_outputs({"c": [artifact(uri)]}, tmp_path / "file-again")
    assert object_names(s3_server, key) == [key]
    with store.open(uri) as stream:
        assert stream.read() == b"a file again"


def test_outputs_without_files_and_inputs_without_content(
    store: ArtifactStore, root: str, tmp_path: Path
) -> None:
    # A Metrics artifact often carries metadata only: nothing to upload, no error.
    uri = store.output_uri(root, "run-1", "eval", "metrics")
    published = store.publish_outputs({"metrics": [artifact(uri, acc=0.5)]}, tmp_path / "w")
    assert published["metrics"][0]["uri"] == uri
    staged = store.stage_inputs(published, tmp_path / "r")
    assert not Path(staged["metrics"][0]["uri"]).exists()
    assert_no_content(store, uri)


def test_an_artifact_already_staged_is_not_fetched_again(
    store: ArtifactStore, root: str, s3_server: S3Server, tmp_path: Path
) -> None:
    uri = store.output_uri(root, "run-1", "train", "model")
    store.prepare_output(uri, tmp_path / "w").write_bytes(b"produced in this run")
    published = store.publish_outputs({"m": [artifact(uri)]}, tmp_path / "w")
    key = uri.removeprefix(f"s3://{s3_server.bucket}/")
    s3_server.client().put_object(
        bucket_name=s3_server.bucket, object_name=key, data=io.BytesIO(b"changed"), length=7
    )
    # Downstream tasks of the same run share its staging folder: the file is there already.
    staged = store.stage_inputs(published, tmp_path / "w")
    assert Path(staged["m"][0]["uri"]).read_bytes() == b"produced in this run"
    assert staged["m"][0]["uri"] == str(store.local_path(uri, tmp_path / "w"))


def test_concurrent_tasks_stage_the_same_input_safely(
    store: ArtifactStore, root: str, s3_server: S3Server, tmp_path: Path
) -> None:
    uri = store.output_uri(root, "run-1", "prepare", "data")
    files = {f"{i}.txt": str(i).encode() * 1000 for i in range(20)}
    write_output_folder(store, uri, tmp_path / "w", files)
    published = store.publish_outputs({"data": [artifact(uri)]}, tmp_path / "w")
    staging = tmp_path / "shared"
    barrier = threading.Barrier(6)
    results: list[Path] = []
    errors: list[BaseException] = []

    def stage() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(Path(store.stage_inputs(published, staging)["data"][0]["uri"]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=stage) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(set(results)) == 1
    staged = results[0]
    assert {p.name: p.read_bytes() for p in staged.iterdir()} == files
    assert [p.name for p in staged.parent.iterdir()] == ["data"]  # no partial downloads left


def test_minio_and_s3_uris_reach_the_same_endpoint(
    store: ArtifactStore, s3_server: S3Server, tmp_path: Path
) -> None:
    uri = store.output_uri(f"minio://{s3_server.bucket}/minio-root", "r", "t", "m")
    store.prepare_output(uri, tmp_path / "w").write_bytes(b"via minio://")
    store.publish_outputs({"m": [artifact(uri)]}, tmp_path / "w")
    assert read_object(s3_server, "minio-root/r/t/m") == b"via minio://"
    with store.open(f"s3://{s3_server.bucket}/minio-root/r/t/m") as stream:
        assert stream.read() == b"via minio://"


def test_an_http_endpoint_url_turns_tls_off(s3_server: S3Server, tmp_path: Path) -> None:
    settings = settings_for(
        s3_server,
        tmp_path,
        artifact_s3_endpoint=f"http://{s3_server.endpoint}",
        artifact_s3_secure=True,
    )
    store = ArtifactStore.from_settings(settings)
    uri = store.output_uri(f"s3://{s3_server.bucket}/http-url", "r", "t", "m")
    store.prepare_output(uri, tmp_path / "w").write_bytes(b"plain http")
    store.publish_outputs({"m": [artifact(uri)]}, tmp_path / "w")
    assert store.size(uri) == 10


@pytest.mark.slow
def test_an_unreachable_endpoint_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    # The client retries a refused connection a few times before giving up (~6 s).
    closed_port = S3Config("127.0.0.1:9", "a", "b", secure=False)
    store = ArtifactStore(tmp_path, s3=closed_port)
    with pytest.raises(ArtifactStoreUnavailable, match=r"S3 endpoint 127\.0\.0\.1:9 failed"):
        store.size("s3://bucket/key")


def test_tls_with_the_configured_ca_bundle(s3_tls_server: S3Server, tmp_path: Path) -> None:
    store = ArtifactStore.from_settings(settings_for(s3_tls_server, tmp_path))
    uri = store.output_uri(f"s3://{s3_tls_server.bucket}/tls", "r", "t", "m")
    store.prepare_output(uri, tmp_path / "w").write_bytes(b"over TLS")
    store.publish_outputs({"m": [artifact(uri)]}, tmp_path / "w")
    staged = store.stage_inputs({"m": [artifact(uri)]}, tmp_path / "r")
    assert Path(staged["m"][0]["uri"]).read_bytes() == b"over TLS"


@pytest.mark.slow
def test_tls_refuses_a_certificate_it_cannot_verify(
    s3_tls_server: S3Server, tmp_path: Path
) -> None:
    # The client retries a failed handshake a few times before giving up (~6 s).
    store = ArtifactStore.from_settings(
        settings_for(s3_tls_server, tmp_path, artifact_s3_ca_bundle=None)
    )
    with pytest.raises(ArtifactStoreUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        store.size(f"s3://{s3_tls_server.bucket}/tls/r/t/m")
