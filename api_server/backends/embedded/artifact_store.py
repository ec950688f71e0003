"""Where a run's artifacts live: its ``pipeline_root``.

A root is a local folder (the default is ``<data_dir>/artifacts``; ``/abs/path`` or
``file:///abs/path``) or a bucket prefix on an S3-compatible server (``s3://bucket/prefix``
or ``minio://bucket/prefix``, both through the one endpoint of the settings, with the
``minio`` client). An output artifact's uri is ``<root>/<run_id>/<task_path>/<name>``.

Tasks only ever see local paths: the kfp executor derives an artifact's ``path`` from its
``uri`` and would turn ``s3://b/k`` into ``/s3/b/k``. So for a remote uri the task works on
``<staging>/<scheme>/<bucket>/<key>`` (:meth:`ArtifactStore.local_path`):
:meth:`~ArtifactStore.stage_inputs` downloads inputs there before the task,
:meth:`~ArtifactStore.publish_outputs` uploads outputs from there after it, and the remote
uri is what the engine records. An artifact is a single object (a file) or a prefix holding
many objects (a folder); both directions keep that shape. Local roots need no copying: the
uri is the absolute path the task writes.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import S3Error

from domain.errors import InvalidArgument, NotFound, Unavailable
from domain.settings import Settings

__all__ = [
    "ArtifactNotFound",
    "ArtifactStore",
    "ArtifactStoreError",
    "ArtifactStoreUnavailable",
    "S3Config",
]

logger = logging.getLogger(__name__)

REMOTE_SCHEMES = ("s3", "minio")
_MISSING_CODES = ("NoSuchKey", "NoSuchBucket", "NoSuchObject", "ResourceNotFound")


class ArtifactStoreError(InvalidArgument):
    """A pipeline root or artifact uri the store cannot use (unsupported scheme, no S3
    endpoint configured, a path that would leave its root)."""


class ArtifactNotFound(NotFound):
    """No content at an artifact's uri."""


class ArtifactStoreUnavailable(Unavailable):
    """The S3 endpoint refused or failed a request."""


@dataclass(frozen=True)
class S3Config:
    """How to reach the S3-compatible server behind ``s3://`` and ``minio://`` roots."""

    endpoint: str
    access_key: str
    secret_key: str
    secure: bool = True
    region: str | None = None
    ca_bundle: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Config | None:
        if not settings.artifact_s3_endpoint:
            return None
        return cls(
            endpoint=settings.artifact_s3_endpoint,
            access_key=settings.artifact_s3_access_key,
            secret_key=settings.artifact_s3_secret_key.get_secret_value(),
            secure=settings.artifact_s3_secure,
            region=settings.artifact_s3_region,
            ca_bundle=settings.artifact_s3_ca_bundle,
        )

    def build_client(self) -> Minio:
        """A client for the endpoint; an ``http://``/``https://`` prefix decides TLS."""
        endpoint, secure = self.endpoint, self.secure
        if "://" in endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ArtifactStoreError(
                    f"artifact_s3_endpoint: {endpoint!r} is not host:port or http(s)://host:port"
                )
            endpoint, secure = parts.netloc, parts.scheme == "https"
        http_client = None
        if secure and self.ca_bundle is not None:
            # Same policy as the client's default pool, verified against our CA bundle.
            http_client = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=30, read=300),
                maxsize=16,
                cert_reqs="CERT_REQUIRED",
                ca_certs=str(self.ca_bundle),
                retries=urllib3.Retry(
                    total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
                ),
            )
        return Minio(
            endpoint,
            access_key=self.access_key or None,
            secret_key=self.secret_key or None,
            secure=secure,
            region=self.region or None,
            http_client=http_client,
        )


@dataclass(frozen=True)
class _Location:
    """A parsed uri: ``scheme`` "" for a local absolute path (then ``key`` is the path)."""

    scheme: str
    bucket: str
    key: str

    @property
    def is_remote(self) -> bool:
        return bool(self.scheme)

    def uri(self) -> str:
        if not self.scheme:
            return self.key
        base = f"{self.scheme}://{self.bucket}"
        return f"{base}/{self.key}" if self.key else base


class ArtifactStore:
    """Artifact uris, staging and transfer for every pipeline root a run may name."""

    def __init__(self, default_root: Path, *, s3: S3Config | None = None) -> None:
        self.default_root = default_root.resolve()
        self.s3 = s3
        self._client: Minio | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ArtifactStore:
        return cls(settings.artifact_dir, s3=S3Config.from_settings(settings))

    # --- uris --------------------------------------------------------------------------

    def resolve_root(self, root: str | None) -> str:
        """The root a run uses: ``root`` normalised, or the default local folder.

        Raises :class:`ArtifactStoreError` for a root the store cannot serve, so a run can
        be refused when it is submitted rather than fail at its first artifact.
        """
        if not root:
            return str(self.default_root)
        location = self._parse(root.rstrip("/") or root, what="pipeline_root")
        if location.is_remote:
            self._require_s3(root)
        return location.uri()

    def output_uri(self, root: str, run_id: str, task_path: str, name: str) -> str:
        """``<root>/<run_id>/<task_path>/<name>``; ``task_path`` may hold ``/`` (nested DAGs)."""
        base = self._parse(self.resolve_root(root), what="pipeline_root")
        if "/" in name:
            raise ArtifactStoreError(f"artifact name {name!r} must not contain '/'")
        parts = [*_segments(run_id, "run_id"), *_segments(task_path, "task_path")]
        parts += _segments(name, "artifact name")
        if not base.is_remote:
            return str(Path(base.key, *parts))
        key = "/".join([base.key, *parts] if base.key else parts)
        return _Location(base.scheme, base.bucket, key).uri()

    def is_remote(self, uri: str) -> bool:
        return self._parse(uri, what="artifact uri").is_remote

    def local_path(self, uri: str, staging: Path) -> Path:
        """Where a task reads or writes the artifact at ``uri``: the path itself for a local
        uri, ``<staging>/<scheme>/<bucket>/<key>`` for a remote one."""
        location = self._parse(uri, what="artifact uri")
        if not location.is_remote:
            return Path(location.key)
        parts = _segments(location.key, uri)
        return Path(os.path.abspath(staging), location.scheme, location.bucket, *parts)

    def prepare_output(self, uri: str, staging: Path) -> Path:
        """:meth:`local_path` with its parent folder created, ready for a task to write."""
        path = self.local_path(uri, staging)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # --- transfer ----------------------------------------------------------------------

    def stage_inputs(
        self, artifacts: dict[str, list[dict[str, Any]]], staging: Path
    ) -> dict[str, list[dict[str, Any]]]:
        """Download remote input artifacts under ``staging``; returns them with local uris.

        An artifact already there (written by an earlier task of the run, or downloaded
        for one) is not fetched again; downloads land under a temporary name and are
        renamed into place whole, so a concurrent task never sees half an artifact.
        """
        staged: dict[str, list[dict[str, Any]]] = {}
        for name, items in artifacts.items():
            staged[name] = []
            for artifact in items:
                uri = str(artifact.get("uri", ""))
                location = self._parse(uri, what=f"input artifact {name!r} uri")
                if not location.is_remote:
                    staged[name].append(dict(artifact))
                    continue
                target = self.local_path(uri, staging)
                if not target.exists():
                    self._download(location, target)
                staged[name].append({**artifact, "uri": str(target)})
        return staged

    def publish_outputs(
        self, artifacts: dict[str, list[dict[str, Any]]], staging: Path
    ) -> dict[str, list[dict[str, Any]]]:
        """Upload output artifacts a task wrote under ``staging``; returns them with their
        remote uris. An artifact's uri may be its remote uri or its staging path (what the
        executor writes back); local-root artifacts are returned unchanged.

        A folder becomes one object per file under ``<key>/``; objects left there by an
        earlier attempt that the new output lacks are removed. An output with no file
        (a Metrics artifact is often metadata only) uploads nothing.
        """
        published: dict[str, list[dict[str, Any]]] = {}
        for name, items in artifacts.items():
            published[name] = []
            for artifact in items:
                uri = self._remote_uri_of(str(artifact.get("uri", "")), staging)
                location = self._parse(uri, what=f"output artifact {name!r} uri")
                if location.is_remote:
                    self._upload(self.local_path(uri, staging), location)
                published[name].append({**artifact, "uri": uri})
        return published

    # --- reading -----------------------------------------------------------------------

    def open(self, uri: str) -> BinaryIO:
        """The content of a file-shaped artifact, streamed. Close it when done."""
        location = self._parse(uri, what="artifact uri")
        if not location.is_remote:
            path = Path(location.key)
            if path.is_dir():
                raise ArtifactStoreError(f"artifact {uri!r} is a folder, not a file")
            try:
                return path.open("rb")
            except FileNotFoundError:
                raise ArtifactNotFound(f"artifact {uri!r} has no content") from None
        client = self._require_s3(uri)
        try:
            response = client.get_object(bucket_name=location.bucket, object_name=location.key)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                if any(True for _ in self._list(location)):
                    raise ArtifactStoreError(f"artifact {uri!r} is a folder, not a file") from None
                raise ArtifactNotFound(f"artifact {uri!r} has no content") from None
            raise self._unavailable(uri, exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._unavailable(uri, exc) from exc
        return io.BufferedReader(_ResponseReader(response), buffer_size=1024 * 1024)

    def size(self, uri: str) -> int:
        """Bytes of the artifact: a file's size, or the sum over a folder's files."""
        location = self._parse(uri, what="artifact uri")
        if not location.is_remote:
            path = Path(location.key)
            if path.is_file():
                return path.stat().st_size
            if path.is_dir():
                return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            raise ArtifactNotFound(f"artifact {uri!r} has no content")
        client = self._require_s3(uri)
        try:
            stat = client.stat_object(bucket_name=location.bucket, object_name=location.key)
            return int(stat.size or 0)
        except S3Error as exc:
            if exc.code not in _MISSING_CODES:
                raise self._unavailable(uri, exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._unavailable(uri, exc) from exc
        sizes = [size for _, size in self._list(location)]
        if not sizes:
            raise ArtifactNotFound(f"artifact {uri!r} has no content")
        return sum(sizes)

    # --- internals ---------------------------------------------------------------------

    def _parse(self, uri: str, *, what: str) -> _Location:
        if uri.startswith("/"):
            return _Location("", "", os.path.normpath(uri))
        if "://" not in uri:
            raise ArtifactStoreError(
                f"{what}: {uri!r} is neither an absolute path nor a file://, s3:// or minio:// uri"
            )
        scheme, _, rest = uri.partition("://")
        scheme = scheme.lower()
        if scheme == "file":
            if not rest.startswith("/"):
                raise ArtifactStoreError(f"{what}: {uri!r} must be file:///absolute/path")
            return _Location("", "", os.path.normpath(rest))
        if scheme not in REMOTE_SCHEMES:
            raise ArtifactStoreError(
                f"{what}: scheme {scheme!r} of {uri!r} is not supported "
                "(use a local path, s3:// or minio://)"
            )
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise ArtifactStoreError(f"{what}: {uri!r} names no bucket")
        key = key.rstrip("/")
        if key:
            _segments(key, what)  # refuses '..', '.' and empty segments
        return _Location(scheme, bucket, key)

    def _require_s3(self, uri: str) -> Minio:
        if self.s3 is None:
            raise ArtifactStoreError(
                f"{uri!r} is on S3 but no endpoint is configured "
                "(set HEADRACE_ARTIFACT_S3_ENDPOINT and its keys)"
            )
        if self._client is None:
            self._client = self.s3.build_client()
        return self._client

    def _unavailable(self, uri: str, exc: Exception) -> ArtifactStoreUnavailable:
        endpoint = self.s3.endpoint if self.s3 else "?"
        return ArtifactStoreUnavailable(f"S3 endpoint {endpoint} failed for {uri!r}: {exc}")

    def _remote_uri_of(self, uri: str, staging: Path) -> str:
        """The remote uri a staging path stands for; any other uri as it is."""
        if not uri.startswith("/"):
            return uri
        try:
            relative = Path(os.path.normpath(uri)).relative_to(os.path.abspath(staging))
        except ValueError:
            return uri
        parts = relative.parts
        if len(parts) < 2 or parts[0] not in REMOTE_SCHEMES:
            return uri
        return _Location(parts[0], parts[1], "/".join(parts[2:])).uri()

    def _list(self, location: _Location) -> Iterator[tuple[str, int]]:
        """(key relative to the artifact, size) of every object under ``<key>/``."""
        client = self._require_s3(location.uri())
        prefix = f"{location.key}/" if location.key else ""
        try:
            for item in client.list_objects(
                bucket_name=location.bucket, prefix=prefix, recursive=True
            ):
                name = item.object_name or ""
                if item.is_dir or name.endswith("/"):
                    continue
                yield name[len(prefix) :], int(item.size or 0)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return
            raise self._unavailable(location.uri(), exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._unavailable(location.uri(), exc) from exc

    def _download(self, location: _Location, target: Path) -> None:
        client = self._require_s3(location.uri())
        uri = location.uri()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            try:
                client.fget_object(
                    bucket_name=location.bucket,
                    object_name=location.key,
                    file_path=str(partial),
                    tmp_file_path=f"{partial}.part",
                )
                logger.debug("artifact downloaded uri=%s path=%s", uri, target)
            except S3Error as exc:
                if exc.code not in _MISSING_CODES:
                    raise self._unavailable(uri, exc) from exc
                files = list(self._list(location))
                if not files:
                    logger.info("input artifact has no content uri=%s", uri)
                    return
                for relative, _ in files:
                    destination = partial.joinpath(*_segments(relative, uri))
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    client.fget_object(
                        bucket_name=location.bucket,
                        object_name=f"{location.key}/{relative}",
                        file_path=str(destination),
                        tmp_file_path=f"{destination}.part",
                    )
                logger.debug("artifact folder downloaded uri=%s files=%d", uri, len(files))
            except urllib3.exceptions.HTTPError as exc:
                raise self._unavailable(uri, exc) from exc
            try:
                os.rename(partial, target)
            except OSError:
                if not target.exists():
                    raise
                # Another task staged the same artifact first; theirs is as good as ours.
        finally:
            _remove(partial)
            _remove(Path(f"{partial}.part"))

    def _upload(self, source: Path, location: _Location) -> None:
        client = self._require_s3(location.uri())
        uri = location.uri()
        if source.is_file():
            files = [(location.key, source)]
        elif source.is_dir():
            files = [
                (f"{location.key}/{path.relative_to(source).as_posix()}", path)
                for path in sorted(source.rglob("*"))
                if path.is_file()
            ]
        else:
            logger.debug("output artifact has no file to upload uri=%s", uri)
            return
        try:
            for key, path in files:
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                client.fput_object(
                    bucket_name=location.bucket,
                    object_name=key,
                    file_path=str(path),
                    content_type=content_type,
                )
            # Leftovers of an earlier attempt (a file where there is now a folder, or files
            # this attempt did not write) must not mix with this one's output.
            uploaded = {key for key, _ in files}
            stale = [f"{location.key}/{relative}" for relative, _ in list(self._list(location))]
            if source.is_dir():
                stale.append(location.key)  # removing a missing object is not an error
            for key in stale:
                if key not in uploaded:
                    client.remove_object(bucket_name=location.bucket, object_name=key)
        except S3Error as exc:
            raise self._unavailable(uri, exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._unavailable(uri, exc) from exc
        logger.debug("artifact uploaded uri=%s objects=%d", uri, len(files))


def _segments(path: str, what: str) -> list[str]:
    """The '/'-separated parts of ``path``; refuses empty, '.' and '..' parts, so a name
    can never reach outside its root or staging folder."""
    parts = path.split("/")
    if not path or "\\" in path or any(part in ("", ".", "..") for part in parts):
        raise ArtifactStoreError(f"{what}: {path!r} is not a relative path of plain names")
    return parts


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class _ResponseReader(io.RawIOBase):
    """A streamed S3 object as a raw binary file; closing it returns the connection."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._response.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._response.close()
                self._response.release_conn()
            finally:
                super().close()
