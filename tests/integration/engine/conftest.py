"""Python environments shared by the engine's integration tests: built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from api_server.backends.embedded.environments import Environments


@pytest.fixture(scope="session")
def environments_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("python-environments")


@pytest.fixture
def environments(environments_root: Path) -> Environments:
    return Environments(environments_root)
