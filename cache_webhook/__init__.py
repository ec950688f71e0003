"""Task caching: the cache key (execution signature) and the store of cached results.

The embedded engine and the Kubernetes cache webhook both use this package, so a task is
found in the cache whichever of them ran it first. It depends on ``domain`` and SQLAlchemy
only; the composition root hands it a database engine.
"""

from .cache_key import KEY_FORMAT, cache_key, canonical_cache_document
from .rows import cache_entries, metadata
from .staleness import parse_max_staleness
from .store import CacheEntry, CacheStore

__all__ = [
    "KEY_FORMAT",
    "CacheEntry",
    "CacheStore",
    "cache_entries",
    "cache_key",
    "canonical_cache_document",
    "metadata",
    "parse_max_staleness",
]
