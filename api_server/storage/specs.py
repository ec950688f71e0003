"""Pipeline specs stored once, by content digest, and shared by versions, runs and
recurring runs (copying the spec into every run is what bloats KFP databases)."""

from __future__ import annotations

import json
import threading
import zlib
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from .dialects import insert_ignoring_duplicates
from .rows import PipelineSpecRow


class SpecCache:
    """Specs are immutable, so a process-wide LRU of decoded specs is always correct."""

    def __init__(self, capacity: int = 256) -> None:
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, digest: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(digest)
            if item is not None:
                self._items.move_to_end(digest)
            return item

    def put(self, digest: str, document: dict[str, Any]) -> None:
        with self._lock:
            self._items[digest] = document
            self._items.move_to_end(digest)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


class SpecStore:
    """Saves and loads spec documents for one database, with a cache of decoded specs."""

    def __init__(self, cache_capacity: int = 256) -> None:
        self._cache = SpecCache(cache_capacity)

    def save(self, session: Session, *, digest: str, canonical: bytes) -> None:
        """Store a spec document (canonical JSON bytes) under its digest if not yet stored."""
        if self._cache.get(digest) is not None:
            return  # cached means it was read from, or committed to, this database
        insert_ignoring_duplicates(
            session,
            PipelineSpecRow.__table__,  # type: ignore[arg-type]
            {
                "digest": digest,
                "body": zlib.compress(canonical, 6),
                "size_bytes": len(canonical),
                "created_at": datetime.now(UTC),
            },
        )

    def remember(self, digest: str, document: dict[str, Any]) -> None:
        """Cache a document once the transaction that saved it has committed."""
        self._cache.put(digest, document)

    def cached(self, digest: str) -> dict[str, Any] | None:
        """The document if this process has it decoded already (no database access)."""
        return self._cache.get(digest)

    def load(self, session: Session | Connection, digest: str) -> dict[str, Any]:
        """The stored document ``{"pipeline_spec": ..., "platform_spec": ...}``."""
        cached = self._cache.get(digest)
        if cached is not None:
            return cached
        body = session.execute(
            select(PipelineSpecRow.body).where(PipelineSpecRow.digest == digest)
        ).scalar_one()
        document: dict[str, Any] = json.loads(zlib.decompress(body))
        self._cache.put(digest, document)
        return document
