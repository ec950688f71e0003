"""Reading uploaded pipeline packages and submitted pipeline specs into ``PipelinePackage``.

An upload is YAML (doc 1 = PipelineSpec, later docs = platform spec), JSON, or a zip / tar(.gz)
archive holding exactly one such file. Archives are recognised by their magic bytes; every
decompression is bounded so that a small upload cannot expand into a huge one.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from typing import IO, Any, Protocol

from domain.errors import InvalidArgument, PayloadTooLarge
from domain.pipeline_spec._paths import describe_kind
from domain.pipeline_spec.documents import (
    check_plain_data,
    check_platform_spec,
    decode_text,
    merge_platform_documents,
    parse_documents,
)
from domain.pipeline_spec.model import PipelinePackage
from domain.pipeline_spec.validation import validate_pipeline_spec

_PIPELINE_SUFFIXES = (".yaml", ".yml", ".json")
_ARCHIVE_SUFFIXES = {".zip": "zip", ".tar.gz": "tar.gz", ".tgz": "tar.gz", ".tar": "tar"}
# Room for tar headers, padding and end-of-archive blocks on top of the content limit.
_TAR_SLACK = 64 * 1024
_READ_CHUNK = 64 * 1024
_WRAPPER_KEYS = frozenset({"pipeline_spec", "platform_spec"})


def load_pipeline_package(
    data: bytes, filename: str | None = None, *, max_bytes: int
) -> PipelinePackage:
    """Parse and validate an uploaded pipeline package.

    Accepts YAML (single or multi-document: the first document is the PipelineSpec, later ones
    are merged into the platform spec), JSON, or a zip / tar / tar.gz archive holding exactly one
    ``.yaml``/``.yml``/``.json`` file. Raises ``PayloadTooLarge`` when ``data`` or an archive
    member's uncompressed content exceeds ``max_bytes``, and ``InvalidArgument`` for anything
    unreadable or invalid.
    """
    label = f"pipeline package {filename!r}" if filename else "pipeline package"
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{label} is {len(data)} bytes; the limit is {max_bytes} bytes")
    if not data:
        raise InvalidArgument(f"{label}: the file is empty")

    archive = _archivedescribe_kind(data)
    claimed = _claimed_archivedescribe_kind(filename)
    if claimed and archive is None:
        raise InvalidArgument(
            f"{label}: the name says {claimed} archive but the content is not one"
        )
    if archive == "zip":
        member, content = _read_zip_member(data, label, max_bytes)
    elif archive in ("tar.gz", "tar"):
        member, content = _read_tar_member(data, label, max_bytes, gzipped=archive == "tar.gz")
    else:
        return _package_from_text(data, label, filename)
    return _package_from_text(content, f"{label}, member {member!r}", member)


def split_submitted_spec(obj: Any) -> PipelinePackage:
    """Read the ``pipeline_spec`` of a run / recurring run / pipeline version request body.

    It is either a bare PipelineSpec, or the wrapper ``{"pipeline_spec": ..., "platform_spec":
    ...}`` that kfp.Client sends when the package had a platform document. Validates both parts.
    """
    if not isinstance(obj, Mapping):
        raise InvalidArgument(
            "pipeline_spec: must be a mapping (a PipelineSpec, or pipeline_spec + "
            f"platform_spec), got {describe_kind(obj)}"
        )
    check_plain_data(obj, "pipeline_spec")
    return _package_from_document(obj, [], "pipeline_spec")


# --------------------------------------------------------------------------- documents


def _package_from_text(data: bytes, label: str, name: str | None) -> PipelinePackage:
    if not data:
        raise InvalidArgument(f"{label}: the file is empty")
    text = decode_text(data, label)
    json_only = bool(name) and str(name).lower().endswith(".json")
    documents = parse_documents(text, label, json_only=json_only)
    if not documents:
        raise InvalidArgument(f"{label}: the file is empty (no YAML or JSON document)")
    for number, document in enumerate(documents, start=1):
        check_plain_data(document, "pipeline_spec" if number == 1 else "platform_spec")
    return _package_from_document(documents[0], documents[1:], label)


def _package_from_document(first: Any, rest: list[Any], label: str) -> PipelinePackage:
    """Build the package from the first document (bare spec or wrapper) and platform docs."""
    if not isinstance(first, Mapping):
        raise InvalidArgument(
            f"{label}: the first document must be a mapping (the PipelineSpec), "
            f"got {describe_kind(first)}"
        )
    platform_docs = list(rest)
    if _is_wrapper(first):
        unexpected = sorted(set(first) - _WRAPPER_KEYS)
        if unexpected:
            raise InvalidArgument(
                f"pipeline_spec: unexpected key {unexpected[0]!r} next to pipeline_spec "
                "(the wrapper holds only pipeline_spec and platform_spec)"
            )
        spec = first["pipeline_spec"]
        if first.get("platform_spec") is not None:
            if not isinstance(first["platform_spec"], Mapping):
                raise InvalidArgument(
                    f"platform_spec: must be a mapping, got {describe_kind(first['platform_spec'])}"
                )
            platform_docs.insert(0, first["platform_spec"])
    else:
        spec = first
    validate_pipeline_spec(spec)
    platform = merge_platform_documents(platform_docs, label) if platform_docs else {}
    check_platform_spec(platform, "platform_spec")
    return PipelinePackage(pipeline_spec=dict(spec), platform_spec=platform or None)


def _is_wrapper(document: Mapping[str, Any]) -> bool:
    # A PipelineSpec never has a snake_case ``pipeline_spec`` key; its own keys mark it bare.
    return "pipeline_spec" in document and "pipelineInfo" not in document and "root" not in document


# --------------------------------------------------------------------------- archives


def _archivedescribe_kind(data: bytes) -> str | None:
    """Archive format by magic bytes (the file name may lie or be missing)."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # local file header / empty archive
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "tar.gz"
    if data[257:262] == b"ustar":
        return "tar"
    return None


def _claimed_archivedescribe_kind(filename: str | None) -> str | None:
    lowered = (filename or "").lower()
    for suffix, kind in _ARCHIVE_SUFFIXES.items():
        if lowered.endswith(suffix):
            return kind
    return None


def _is_pipeline_file(name: str) -> bool:
    """Whether an archive member is a candidate pipeline file.

    macOS archivers add ``__MACOSX/`` folders and ``._name`` resource forks that carry the
    pipeline's suffix; they are never the pipeline.
    """
    base = name.rsplit("/", 1)[-1]
    if name.startswith("__MACOSX/") or base.startswith("._"):
        return False
    return base.lower().endswith(_PIPELINE_SUFFIXES)


def _exactly_one(names: list[str], label: str) -> None:
    if not names:
        raise InvalidArgument(f"{label}: the archive holds no .yaml, .yml or .json file")
    if len(names) > 1:
        listed = ", ".join(repr(n) for n in sorted(names))
        raise InvalidArgument(
            f"{label}: the archive must hold exactly one pipeline file, "
            f"found {len(names)}: {listed}"
        )


def _too_large(label: str, member: str, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{label}: archive member {member!r} is larger than the limit of {max_bytes} bytes "
        "when uncompressed"
    )


def _read_bounded(stream: IO[bytes], label: str, member: str, max_bytes: int) -> bytes:
    """Read at most ``max_bytes``; stop as soon as the stream yields more (declared sizes lie)."""
    buffer = bytearray()
    while chunk := stream.read(_READ_CHUNK):
        buffer += chunk
        if len(buffer) > max_bytes:
            raise _too_large(label, member, max_bytes)
    return bytes(buffer)


def _read_zip_member(data: bytes, label: str, max_bytes: int) -> tuple[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            for info in infos:  # the declared sizes: refuse before decompressing anything
                if info.file_size > max_bytes:
                    raise _too_large(label, info.filename, max_bytes)
            names = [info.filename for info in infos if _is_pipeline_file(info.filename)]
            _exactly_one(names, label)
            with archive.open(names[0]) as stream:
                return names[0], _read_bounded(stream, label, names[0], max_bytes)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise InvalidArgument(f"{label}: not a readable zip archive: {exc}") from exc
    except (RuntimeError, NotImplementedError) as exc:  # encrypted / unsupported compression
        raise InvalidArgument(f"{label}: cannot extract from the zip archive: {exc}") from exc


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _BoundedStream:
    """A read-only stream that refuses to yield more than ``budget`` bytes in total.

    tar stream reading decompresses every member it skips, so the whole decompressed stream,
    not only the chosen member, must be bounded.
    """

    def __init__(self, raw: _Readable, budget: int, label: str) -> None:
        self._raw = raw
        self._budget = budget
        self._label = label
        self._consumed = 0

    def read(self, size: int = -1) -> bytes:
        remaining = self._budget + 1 - self._consumed
        chunk = self._raw.read(remaining if size < 0 else min(size, remaining))
        self._consumed += len(chunk)
        if self._consumed > self._budget:
            raise PayloadTooLarge(
                f"{self._label}: the archive expands to more than {self._budget} bytes"
            )
        return chunk


def _read_tar_member(
    data: bytes, label: str, max_bytes: int, *, gzipped: bool
) -> tuple[str, bytes]:
    raw: _Readable = io.BytesIO(data)
    if gzipped:
        raw = gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")
    stream = _BoundedStream(raw, max_bytes + _TAR_SLACK, label)
    found: list[tuple[str, bytes]] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:  # type: ignore[call-overload]
            for member in archive:
                if not member.isfile():
                    continue  # directories, links and devices are never the pipeline
                name = member.name.removeprefix("./")
                if member.size > max_bytes:
                    raise _too_large(label, name, max_bytes)
                if _is_pipeline_file(name):
                    extracted = archive.extractfile(member)
                    assert extracted is not None  # regular files always extract
                    found.append((name, _read_bounded(extracted, label, name, max_bytes)))
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        kind = "tar.gz" if gzipped else "tar"
        raise InvalidArgument(f"{label}: not a readable {kind} archive: {exc}") from exc
    _exactly_one([name for name, _ in found], label)
    return found[0]
