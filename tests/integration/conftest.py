"""Fixtures of the storage and service suite: compiled specs, a controllable clock, row
counts and the SQL a call sends. Every test here runs once per backend in
``HEADRACE_TEST_DATABASES``."""

from __future__ import annotations

import copy
import functools
import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from service_inputs import COMPILED, Clock
from sqlalchemy import event, func, select

from api_server.rest.dependencies import Services
from api_server.services import ListQuery
from api_server.storage import Database
from api_server.storage.rows import Base
from domain.pipeline_spec import load_pipeline_package
from domain.resources import Page
from metadata_store import MetadataStore, start_server
from metadata_store.rows import MetadataBase

REPO = Path(__file__).resolve().parents[2]
MLMD_PYTHON = REPO / ".venv-mlmd" / "bin" / "python"
CLIENT_SCRIPT = REPO / "tests" / "mlmd_client" / "exercise_store.py"


@functools.cache
def _compiled(name: str) -> dict[str, Any]:
    path = COMPILED / f"{name}.yaml"
    return load_pipeline_package(path.read_bytes(), path.name, max_bytes=10_000_000).pipeline_spec


@pytest.fixture
def compiled_spec() -> Callable[[str], dict[str, Any]]:
    """``compiled_spec("scalar_params")``: a fresh copy of a compiled pipeline spec dict."""

    def load(name: str) -> dict[str, Any]:
        return copy.deepcopy(_compiled(name))

    return load


@pytest.fixture
def clock(services: Services) -> Clock:
    """The clock every service of ``services`` reads (they share one context)."""
    ticking = Clock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    services.runs.ctx.clock = ticking
    return ticking


@pytest.fixture
def count_rows(db: Database) -> Callable[[str], int]:
    """``count_rows("runs")``: the number of rows in one of Headrace's tables."""

    def count(table_name: str) -> int:
        table = Base.metadata.tables[table_name]
        with db.read() as session:
            return int(session.execute(select(func.count()).select_from(table)).scalar_one())

    return count


@pytest.fixture
def sent_statements(services: Services) -> Callable[[Callable[[], object]], list[str]]:
    """``sent_statements(call)``: the SQL ``call()`` sent to the database, through any of
    its engines (a ``before_cursor_execute`` listener on each)."""

    def record_call(call: Callable[[], object]) -> list[str]:
        sent: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            sent.append(statement)

        for engine in services.db.engines:
            event.listen(engine, "before_cursor_execute", record)
        try:
            call()
        finally:
            for engine in services.db.engines:
                event.remove(engine, "before_cursor_execute", record)
        return sent

    return record_call


@pytest.fixture
def walk_pages() -> Callable[..., list[Page[Any]]]:
    """Follow ``next_page_token`` through a listing: ``walk_pages(call, page_size=5,
    filter=..., sort_by=...)`` where ``call(ListQuery) -> Page``. Returns every page."""

    def walk(
        call: Callable[[ListQuery], Page[Any]],
        *,
        page_size: int,
        filter: str | None = None,
        sort_by: str | None = None,
    ) -> list[Page[Any]]:
        pages: list[Page[Any]] = []
        token: str | None = None
        while True:
            query = ListQuery(filter=filter, sort_by=sort_by, page_size=page_size, page_token=token)
            pages.append(call(query))
            assert len(pages) <= 1000, "paging does not terminate"
            token = pages[-1].next_page_token
            if not token:
                return pages

    return walk


# -- the metadata store --------------------------------------------------------------------
@pytest.fixture
def metadata(db: Database) -> MetadataStore:
    """A metadata store over the test database, its tables emptied first."""
    with db.engine.begin() as conn:
        for table in reversed(MetadataBase.metadata.sorted_tables):
            conn.execute(table.delete())
    return MetadataStore(db)


@pytest.fixture
def mlmd_port(metadata: MetadataStore) -> Iterator[int]:
    """The store served over gRPC on a free port of 127.0.0.1."""
    server = start_server(metadata, port=0)
    try:
        yield server.port
    finally:
        server.stop(grace=None)


@pytest.fixture
def mlmd_client() -> Callable[..., Any]:
    """``mlmd_client(port, *args)``: run the real ml-metadata client script, return its JSON."""

    def run(port: int, *args: str) -> Any:
        if not MLMD_PYTHON.exists():
            pytest.fail(f"{MLMD_PYTHON} is missing: run `make mlmd-venv` (make test does)")
        done = subprocess.run(
            [str(MLMD_PYTHON), str(CLIENT_SCRIPT), "--port", str(port), *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(done.stdout)

    return run
