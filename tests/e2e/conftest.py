"""A real ``headrace serve`` process on a free port, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import API, check_timestamps


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    log_path: Path
    grpc_target: str = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path, *, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], RunningServer]:
    port, grpc_port = free_port(), free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    # The server's settings come from its flags and extra_env only, never the caller's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADRACE_")}
    env.update(extra_env or {})
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headrace",
            "serve",
            "--port",
            str(port),
            "--grpc-port",
            str(grpc_port),
            "--data-dir",
            str(data_dir),
            "--log-format",
            "text",
            "--metadata-grpc-port",
            "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    server = RunningServer(f"http://127.0.0.1:{port}", data_dir, log_path, f"127.0.0.1:{grpc_port}")
    try:
        wait_healthy(server.url, process)
    except RuntimeError as exc:
        process.kill()
        raise RuntimeError(f"{exc}:\n{server.log()}") from exc
    return process, server


def wait_healthy(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30
) -> None:
    """Poll healthz until it answers 200; RuntimeError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("headrace exited early")
        try:
            if httpx.get(f"{url}/apis/v2beta1/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy within {timeout:g}s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Python components' virtual environments, kept between test sessions (building one
# installs kfp): a folder of the checkout that git ignores.
TASK_ENVS = Path(__file__).resolve().parents[2] / ".test-envs"


def engine_env(**extra: str) -> dict[str, str]:
    """Settings of a server whose engine runs tasks (shared task environments)."""
    return {"HEADRACE_PYTHON_ENVS_DIR": str(TASK_ENVS), **extra}


def serving(
    tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str]
) -> Iterator[RunningServer]:
    """A server on a data dir of its own for the fixture using it, stopped after. Every
    failure a module provokes must be a handled one: no stack trace in its log."""
    process, running = start_server(
        tmp_path_factory.mktemp("headrace") / "data", extra_env=extra_env
    )
    try:
        yield running
    finally:
        stop_server(process)
    assert "Traceback" not in running.log(), running.log()[-4000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One embedded server (SQLite) per test module, without a run engine: these modules
    test the API and storage, so their runs stay PENDING. Modules about execution make
    ``server`` the ``engine_server`` instead."""
    yield from serving(tmp_path_factory, {"HEADRACE_RUN_ENGINE": "none"})


@pytest.fixture(scope="module")
def engine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One embedded server whose engine runs tasks, per test module."""
    yield from serving(tmp_path_factory, engine_env())


@pytest.fixture(scope="module")
def kfp_client(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> object:
    """The real kfp.Client pointed at the server, with an empty HOME (no context file)."""
    home = tmp_path_factory.mktemp("home")
    os.environ["HOME"] = str(home)
    import kfp

    return kfp.Client(host=server.url)


def _check_response(response: httpx.Response) -> None:
    """Every JSON answer the raw client sees: timestamps are RFC 3339, never ""."""
    response.read()
    if response.headers.get("content-type", "").startswith("application/json") and response.content:
        check_timestamps(response.json())


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[httpx.Client]:
    """A raw HTTP client rooted at ``/apis/v2beta1`` for wire checks the SDK cannot express."""
    with httpx.Client(
        base_url=server.url + API, timeout=30, event_hooks={"response": [_check_response]}
    ) as client:
        yield client
