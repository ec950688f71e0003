"""Helpers shared by the end-to-end modules: corpus paths, error and timestamp checks."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

API = "/apis/v2beta1"
TESTS = Path(__file__).resolve().parents[1]
CORPUS = TESTS / "pipelines" / "compiled"
BROKEN = TESTS / "pipelines" / "broken"

# gRPC codes the error bodies carry.
INVALID_ARGUMENT = 3
NOT_FOUND = 5
ALREADY_EXISTS = 6
FAILED_PRECONDITION = 9

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")

T = TypeVar("T")


def corpus(name: str) -> Path:
    path = CORPUS / f"{name}.yaml"
    assert path.is_file(), path
    return path


def corpus_documents(name: str) -> list[dict[str, Any]]:
    """The YAML documents of a compiled corpus package (spec first, then platform docs)."""
    return [d for d in yaml.safe_load_all(corpus(name).read_text()) if d is not None]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def parse_rfc3339(value: object) -> datetime:
    """A timestamp as a client reads it; fails on anything but a full RFC 3339 string."""
    assert isinstance(value, str), f"timestamp {value!r} is not a string"
    assert _RFC3339.fullmatch(value), f"timestamp {value!r} is not RFC 3339"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None
    return parsed


def is_timestamp_key(key: str) -> bool:
    return key.endswith("_at") or key.endswith("_time")


def timestamps(document: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """Every (json path, value) of a timestamp field in a response body."""
    if isinstance(document, dict):
        for key, value in document.items():
            here = f"{path}.{key}"
            # pipeline specs are user content: their keys are not response fields.
            if key in ("pipeline_spec", "platform_spec", "parameters", "plugins_input"):
                continue
            if is_timestamp_key(key) and not isinstance(value, dict | list):
                yield here, value
            else:
                yield from timestamps(value, here)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from timestamps(item, f"{path}[{index}]")


def check_timestamps(document: Any) -> int:
    """Assert every timestamp in a response is RFC 3339 (never ""); returns how many."""
    found = 0
    for where, value in timestamps(document):
        assert value != "", f"{where} is an empty-string timestamp"
        try:
            parse_rfc3339(value)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        found += 1
    return found


def assert_error(response: httpx.Response, status: int, code: int, *fragments: str) -> str:
    """The KFP error shape: HTTP ``status`` and ``{"code", "message", "details": []}``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code, body
    assert body["details"] == [], body
    message = body["message"]
    assert isinstance(message, str) and message.strip(), body
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def api_error(exc: Exception) -> dict[str, Any]:
    """The JSON body of a ``kfp_server_api.ApiException``."""
    body = getattr(exc, "body", None)
    assert body, f"no body on {exc!r}"
    return json.loads(body)


def predicate(key: str, operation: str | int, **value: Any) -> dict[str, Any]:
    return {"key": key, "operation": operation, **value}


def filter_json(*predicates: dict[str, Any]) -> str:
    return json.dumps({"predicates": list(predicates)})


def poll(check: Callable[[], T | None], *, timeout: float = 10.0, interval: float = 0.05) -> T:
    """Call ``check`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
