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


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path, *, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], RunningServer]:
    port = free_port()
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
            "--data-dir",
            str(data_dir),
            "--log-format",
            "text",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    server = RunningServer(f"http://127.0.0.1:{port}", data_dir, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"headrace serve exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/apis/v2beta1/healthz", timeout=1).status_code == 200:
                return process, server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"headrace serve did not become healthy:\n{server.log()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One embedded server (SQLite) per test module."""
    process, running = start_server(tmp_path_factory.mktemp("headrace") / "data")
    try:
        yield running
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def kfp_client(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> object:
    """The real kfp.Client pointed at the server, with an empty HOME (no context file)."""
    home = tmp_path_factory.mktemp("home")
    os.environ["HOME"] = str(home)
    import kfp

    return kfp.Client(host=server.url)
