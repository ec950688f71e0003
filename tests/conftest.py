"""Fixtures shared by every test: databases (SQLite, MariaDB, PostgreSQL), services.

``HEADRACE_TEST_DATABASES`` (comma-separated: sqlite, mariadb, postgresql; default
sqlite) chooses the backends. Each test run creates databases of its own, migrates them
once with the real Alembic tree, clears the tables between tests and drops them at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import migrations
from api_server import build_services
from api_server.rest.dependencies import Services
from api_server.storage import Database, build_engine
from api_server.storage.rows import Base
from domain.settings import Settings
from tests.s3_server import s3_server, s3_tls_server  # noqa: F401  (fixtures)

ADMIN_URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}
DATABASES = [
    name.strip()
    for name in os.environ.get("HEADRACE_TEST_DATABASES", "sqlite").split(",")
    if name.strip()
]


def _unique_name() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"headrace_t_{worker}_{uuid.uuid4().hex[:8]}"


def create_database(backend: str, tmp: Path) -> tuple[str, object]:
    """A new empty database; returns (url, token for drop_database)."""
    name = _unique_name()
    if backend == "sqlite":
        return f"sqlite:///{tmp / (name + '.db')}", None
    admin = create_engine(ADMIN_URLS[backend], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "postgresql":
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )
    admin.dispose()
    return ADMIN_URLS[backend].rsplit("/", 1)[0] + "/" + name, name


def drop_database(backend: str, name: object) -> None:
    if backend == "sqlite":
        return
    admin = create_engine(ADMIN_URLS[backend], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "postgresql":
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


@pytest.fixture(scope="session", params=DATABASES)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of this test run, one per backend."""
    backend = request.param
    url, token = create_database(backend, tmp_path_factory.mktemp(backend))
    migrations.upgrade(url)
    try:
        yield url
    finally:
        drop_database(backend, token)


@pytest.fixture(params=DATABASES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database with no tables at all (not migrated), dropped after the test."""
    url, token = create_database(request.param, tmp_path)
    try:
        yield url
    finally:
        drop_database(request.param, token)


def clear_tables(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The run's database, emptied before the test."""
    database = Database(build_engine(database_url))
    clear_tables(database)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path / "data")


@pytest.fixture
def services(settings: Settings, db: Database) -> Services:
    """The service layer over the test database, with no run engine (runs stay PENDING)."""
    return build_services(settings, db)
