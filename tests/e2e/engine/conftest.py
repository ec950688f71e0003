"""Fixtures of the engine acceptance suite: ``server`` here is a server whose engine runs
tasks (the ``api`` and ``kfp_client`` fixtures of ``tests/e2e/conftest.py`` use it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import RunningServer


@pytest.fixture(scope="module")
def server(engine_server: RunningServer) -> RunningServer:
    """This module's runs execute: its server runs the engine."""
    return engine_server


@pytest.fixture
def side(tmp_path: Path) -> Path:
    """The folder a test's components write their side files into (same machine as the
    server, so the tasks can write here)."""
    folder = tmp_path / "side"
    folder.mkdir()
    return folder
