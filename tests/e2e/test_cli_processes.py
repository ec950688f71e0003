"""The headrace command as an operator runs it: real processes, real ports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .conftest import free_port, wait_healthy

pytestmark = pytest.mark.e2e


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HEADRACE_")}


def _migrate(env: dict[str, str], *options: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "headrace", "migrate", *options],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr


def test_api_server_refuses_a_stale_schema_and_names_the_fix(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "headrace",
            "api-server",
            "--data-dir",
            str(tmp_path),
            "--port",
            "0",
            "--grpc-port",
            "0",
            "--log-format",
            "text",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
    )
    assert result.returncode == 3
    assert "run `headrace migrate` first" in result.stderr


def test_api_server_starts_after_an_explicit_migrate(tmp_path: Path) -> None:
    env = _clean_env()
    _migrate(env, "--data-dir", str(tmp_path))
    port, grpc_port = free_port(), free_port()
    log = tmp_path / "api-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "headrace",
                "api-server",
                "--data-dir",
                str(tmp_path),
                "--port",
                str(port),
                "--grpc-port",
                str(grpc_port),
                "--log-format",
                "text",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        assert_grpc_serving(f"127.0.0.1:{grpc_port}")
    finally:
        process.terminate()
        process.wait(timeout=10)
    # SIGTERM stops both servers gracefully, gRPC first. (uvicorn then re-raises the
    # signal, so the exit status is -15 either way.)
    text = log.read_text(errors="replace")
    assert text.index("gRPC server stopped") < text.index("Application shutdown complete"), text


def assert_grpc_serving(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_serve_on_port_zero_logs_the_ports_it_picked(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "headrace",
                "serve",
                "--data-dir",
                str(tmp_path / "d"),
                "--port",
                "0",
                "--grpc-port",
                "0",
                "--metadata-grpc-port",
                "0",
                "--log-format",
                "text",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
        )
    try:
        port = int(_wait_for_log(log, r"url=http://127\.0\.0\.1:(\d+)").group(1))
        assert port != 0
        wait_healthy(f"http://127.0.0.1:{port}", process)
        grpc_match = re.search(r"grpc_port=(\d+)", log.read_text(errors="replace"))
        assert grpc_match is not None and int(grpc_match.group(1)) != 0, log.read_text()
        assert_grpc_serving(f"127.0.0.1:{grpc_match.group(1)}")
        # The metadata store runs in the same process, on a port of its own.
        found = _wait_for_log(log, r"metadata store listening.*port=(\d+)")
        assert _metadata_types(int(found.group(1))) == []
    finally:
        process.terminate()
        process.wait(timeout=10)


def _metadata_types(port: int) -> list[str]:
    """Artifact type names through a plain gRPC stub of MetadataStoreService."""
    import grpc

    from metadata_store.proto import metadata_store_service_pb2 as svc
    from metadata_store.proto import metadata_store_service_pb2_grpc as svc_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = svc_grpc.MetadataStoreServiceStub(channel)
        response = stub.GetArtifactTypes(svc.GetArtifactTypesRequest(), timeout=10)
    return [t.name for t in response.artifact_types]


def _wait_for_log(log: Path, pattern: str, timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} never appeared in the log:\n{log.read_text()}")


def test_metadata_store_runs_alone_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = _clean_env()
    command = [
        sys.executable,
        "-m",
        "headrace",
        "metadata-store",
        "--data-dir",
        str(tmp_path),
        "--metadata-grpc-port",
        "0",
        "--log-format",
        "text",
    ]
    stale = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert stale.returncode == 3
    assert "run `headrace migrate`" in stale.stderr
    _migrate(env, "--data-dir", str(tmp_path))
    log = tmp_path / "metadata.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        found = _wait_for_log(log, r"metadata store listening.*port=(\d+)")
        assert _metadata_types(int(found.group(1))) == []
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_metadata_store_in_a_database_of_its_own(tmp_path: Path) -> None:
    import grpc
    from sqlalchemy import create_engine, text

    from metadata_store.proto import metadata_store_pb2 as pb
    from metadata_store.proto import metadata_store_service_pb2 as svc
    from metadata_store.proto import metadata_store_service_pb2_grpc as svc_grpc

    env = _clean_env()
    lineage_url = f"sqlite:///{tmp_path / 'lineage.db'}"
    options = ["--data-dir", str(tmp_path), "--metadata-database-url", lineage_url]
    serve_options = [*options, "--metadata-grpc-port", "0", "--log-format", "text"]
    _migrate(env, *options)
    log = tmp_path / "metadata.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "headrace", "metadata-store", *serve_options],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        port = int(_wait_for_log(log, r"metadata store listening.*port=(\d+)").group(1))
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = svc_grpc.MetadataStoreServiceStub(channel)
            request = svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name="Kept"))
            stub.PutArtifactType(request, timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=10)

    def type_names(url: str) -> list[str]:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return [row[0] for row in conn.execute(text("SELECT name FROM mlmd_types"))]
        finally:
            engine.dispose()

    assert type_names(lineage_url) == ["Kept"]
    assert type_names(f"sqlite:///{tmp_path / 'headrace.db'}") == []
