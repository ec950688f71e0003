"""Adapters the composition root plugs between components, so none imports another:
the engine's cache port over ``cache_webhook``, its lineage port over ``metadata_store``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from api_server.backends.embedded import (
    ArtifactStore,
    EmbeddedEngine,
    Job,
    build_embedded_engine,
)
from api_server.storage import Database
from cache_webhook import CacheEntry, CacheStore, cache_key, parse_max_staleness
from domain.errors import FailedPrecondition
from domain.settings import Settings
from metadata_store import EngineLineage, LineageRecorder, RunningServer


class EngineCache:
    """The engine's ``TaskCache`` over the shared cache store."""

    def __init__(
        self,
        store: CacheStore,
        *,
        max_staleness: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store_ = store
        self.max_staleness = max_staleness
        self.clock = clock

    def key(self, job: Job) -> str:
        inputs = {"parameters": job.parameters, "artifacts": job.artifacts}
        return cache_key(job.component, job.container, inputs, override=job.cache_key or None)

    def lookup(self, key: str) -> Mapping[str, Any] | None:
        entry = self.store_.lookup(key, max_staleness=self.max_staleness)
        if entry is None:
            return None
        origin = {"run_id": entry.run_id, "task_id": entry.task_id}
        if entry.execution_id:
            origin["execution_id"] = entry.execution_id
        return {"outputs": entry.outputs, "origin": origin}

    def store(
        self, key: str, job: Job, outputs: Mapping[str, Any], *, execution_id: str | None
    ) -> None:
        self.store_.put(
            CacheEntry(
                key=key,
                run_id=job.run_id,
                task_id=job.node_id,
                outputs=dict(outputs),
                created_at=self.clock(),
                execution_id=execution_id,
            )
        )


class StoreReader:
    """The API's ``ArtifactReader`` over the engine's artifact store (object stores)."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def read(self, uri: str, limit: int) -> bytes:
        size = self.store.size(uri)
        if size > limit:
            raise FailedPrecondition(
                f"artifact {uri!r} is {size} bytes; at most {limit} are served"
            )
        with self.store.open(uri) as stream:
            return stream.read()


def build_embedded(
    settings: Settings, db: Database, metadata: RunningServer | None = None
) -> tuple[EmbeddedEngine, StoreReader]:
    """The embedded engine with its cache and (when the metadata store runs in this process)
    its lineage recorder, and the reader the API serves artifacts with."""
    artifacts = ArtifactStore.from_settings(settings)
    cache = EngineCache(
        CacheStore(db.engine), max_staleness=parse_max_staleness(settings.cache_max_staleness)
    )
    lineage = EngineLineage(LineageRecorder(metadata.store)) if metadata is not None else None
    engine = build_embedded_engine(settings, artifacts, cache=cache, lineage=lineage)
    return engine, StoreReader(artifacts)
