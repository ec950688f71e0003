"""The committed protobuf/gRPC modules of the metadata store match their .proto sources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from metadata_store.proto import generate


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    fresh = generate.generate(tmp_path)
    assert fresh, "protoc produced nothing"
    stale = []
    for path in fresh:
        committed = generate.PROTO_DIR / path.name
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(path.name)
    assert stale == [], f"regenerate with `make protos`: {stale}"


def test_the_service_keeps_ml_metadata_names() -> None:
    from metadata_store.proto import metadata_store_service_pb2 as svc

    service = svc.DESCRIPTOR.services_by_name["MetadataStoreService"]
    assert service.full_name == "ml_metadata.MetadataStoreService"
    assert len(service.methods) == 52
    put = svc.PutExecutionRequest.DESCRIPTOR
    assert {f.name: f.number for f in put.fields} == {
        "execution": 1,
        "artifact_event_pairs": 2,
        "contexts": 3,
        "options": 4,
        "transaction_options": 5,
    }


def test_every_message_we_declare_matches_ml_metadata_field_for_field() -> None:
    """Wire compatibility: ML-Metadata's own generated protos (its venv) against ours."""
    script = Path(__file__).resolve().parents[1] / "mlmd_client" / "describe_protos.py"
    mlmd_python = script.parents[2] / ".venv-mlmd" / "bin" / "python"
    if not mlmd_python.exists():
        pytest.fail(f"{mlmd_python} is missing: run `make mlmd-venv` (make test does)")

    def describe(python: str, which: str) -> dict[str, Any]:
        done = subprocess.run(
            [python, str(script), which], capture_output=True, text=True, timeout=120, check=True
        )
        return dict(json.loads(done.stdout))

    theirs = describe(str(mlmd_python), "ml_metadata")
    ours = describe(sys.executable, "headrace")
    assert ours["rpcs"] == theirs["rpcs"]
    assert ours["messages"], "nothing described"
    for name, fields in ours["messages"].items():
        assert name in theirs["messages"], f"{name} is not an ML-Metadata message"
        assert fields == {f: theirs["messages"][name][f] for f in fields}, name
