"""Facts that never change once written (an experiment's namespace, a pipeline version's
pipeline and spec), remembered per process so hot paths skip reading them again."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """A bounded map of immutable facts: when full it is emptied and refilled on demand.
    Whether the thing still exists is for the caller to check where it matters."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._items: dict[K, V] = {}
        self._capacity = capacity

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        if len(self._items) >= self._capacity:
            self._items.clear()
        self._items[key] = value

    def forget(self, key: K) -> None:
        self._items.pop(key, None)
