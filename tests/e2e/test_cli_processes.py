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
    migrate = subprocess.run(
        [sys.executable, "-m", "headrace", "migrate", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert migrate.returncode == 0, migrate.stderr
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
                "--log-format",
                "text",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
        )
    try:
        deadline = time.monotonic() + 30
        match = None
        while time.monotonic() < deadline and match is None:
            match = re.search(r"url=http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
            time.sleep(0.05)
        assert match is not None, log.read_text()
        port = int(match.group(1))
        assert port != 0
        wait_healthy(f"http://127.0.0.1:{port}", process)
        grpc_match = re.search(r"grpc_port=(\d+)", log.read_text(errors="replace"))
        assert grpc_match is not None and int(grpc_match.group(1)) != 0, log.read_text()
        assert_grpc_serving(f"127.0.0.1:{grpc_match.group(1)}")
    finally:
        process.terminate()
        process.wait(timeout=10)
