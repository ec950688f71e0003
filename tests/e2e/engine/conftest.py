"""Fixtures of the engine acceptance suite (the server, ``api`` and ``kfp_client`` fixtures
come from ``tests/e2e/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def side(tmp_path: Path) -> Path:
    """The folder a test's components write their side files into (same machine as the
    server, so the tasks can write here)."""
    folder = tmp_path / "side"
    folder.mkdir()
    return folder
