"""Fetch a pipeline package from a ``package_url``: HTTP(S) only, bounded size and time."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import httpx

from domain.errors import InvalidArgument, PayloadTooLarge

logger = logging.getLogger(__name__)


def fetch_package(url: str, *, max_bytes: int, timeout_seconds: float) -> tuple[bytes, str]:
    """Download ``url``; returns (content, file name taken from the URL path).

    Raises InvalidArgument for a bad URL, an unreachable host or a non-2xx answer, and
    PayloadTooLarge once more than ``max_bytes`` arrive (the body is streamed, never
    buffered past the limit).
    """
    field = "pipeline_version.package_url.pipeline_url"
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidArgument(f"{field}: must be an http:// or https:// URL, got {url!r}")
    filename = parsed.path.rsplit("/", 1)[-1] or "pipeline.yaml"
    try:
        with (
            httpx.Client(timeout=timeout_seconds, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise InvalidArgument(
                    f"{field}: fetching {url!r} answered HTTP {response.status_code}"
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise PayloadTooLarge(
                    f"{field}: package is {declared} bytes; the limit is {max_bytes}"
                )
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise PayloadTooLarge(
                        f"{field}: package exceeds the limit of {max_bytes} bytes"
                    )
                chunks.append(chunk)
    except httpx.TimeoutException as exc:
        raise InvalidArgument(
            f"{field}: fetching {url!r} timed out after {timeout_seconds:g}s"
        ) from exc
    except httpx.HTTPError as exc:
        raise InvalidArgument(f"{field}: could not fetch {url!r}: {exc}") from exc
    logger.info("package fetched", extra={"url": url, "bytes": received})
    return b"".join(chunks), filename
