"""Fixtures of the engine acceptance suite: ``server`` here is a server whose engine runs
tasks (the ``api`` and ``kfp_client`` fixtures of ``tests/e2e/conftest.py`` use it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningServer, engine_env, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    process, running = start_server(
        tmp_path_factory.mktemp("engine") / "data", extra_env=engine_env()
    )
    try:
        yield running
    finally:
        stop_server(process)
    assert "Traceback" not in running.log(), running.log()[-4000:]


@pytest.fixture
def side(tmp_path: Path) -> Path:
    """The folder a test's components write their side files into (same machine as the
    server, so the tasks can write here)."""
    folder = tmp_path / "side"
    folder.mkdir()
    return folder
