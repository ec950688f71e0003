"""The cache store on every database: newest entry wins, staleness limits, idempotent and
race-free ``put``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from api_server.storage import Database, build_engine
from cache_webhook import CacheEntry, CacheStore, cache_entries, cache_key

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
KEY = cache_key({}, {"image": "busybox", "command": ["true"]}, {"parameters": {"n": 1}})
OTHER_KEY = cache_key({}, {"image": "busybox", "command": ["true"]}, {"parameters": {"n": 2}})


@pytest.fixture
def engine(db: Database) -> Engine:
    with db.engine.begin() as connection:
        connection.execute(cache_entries.delete())
    return db.engine


@pytest.fixture
def store(engine: Engine) -> CacheStore:
    return CacheStore(engine, clock=lambda: NOW)


def entry(run_id: str, *, key: str = KEY, age: timedelta = timedelta(0), **kw: Any) -> CacheEntry:
    outputs = kw.pop("outputs", {"parameters": {"Output": run_id}, "artifacts": {}})
    return CacheEntry(
        key=key,
        run_id=run_id,
        task_id=kw.pop("task_id", "task-1"),
        outputs=outputs,
        created_at=NOW - age,
        **kw,
    )


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(cache_entries)).scalar_one())


def test_an_unknown_key_is_a_miss(store: CacheStore) -> None:
    assert store.lookup(KEY, max_staleness=None) is None


def test_put_then_lookup_round_trips_every_field(store: CacheStore) -> None:
    outputs = {
        "parameters": {"Output": 1.5, "text": "ünïcödé ✓", "items": [1, {"a": None}]},
        "artifacts": {
            "model": [
                {
                    "name": "model",
                    "uri": "s3://bucket/root/run-a/train/model",
                    "type": {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"},
                    "metadata": {"accuracy": 0.9, "blob": "x" * 100_000},
                }
            ]
        },
    }
    original = entry("run-a", execution_id="17", outputs=outputs)
    store.put(original)
    assert store.lookup(KEY, max_staleness=None) == original


def test_the_newest_entry_of_a_key_wins(store: CacheStore) -> None:
    store.put(entry("run-old", age=timedelta(days=3)))
    store.put(entry("run-new", age=timedelta(hours=1)))
    store.put(entry("run-mid", age=timedelta(days=1)))
    store.put(entry("run-other-key", key=OTHER_KEY))
    found = store.lookup(KEY, max_staleness=None)
    assert found is not None
    assert found.run_id == "run-new"
    assert found.outputs["parameters"]["Output"] == "run-new"


def test_max_staleness_skips_older_entries(store: CacheStore) -> None:
    store.put(entry("run-old", age=timedelta(days=3)))
    assert store.lookup(KEY, max_staleness=timedelta(days=2)) is None
    assert store.lookup(KEY, max_staleness=timedelta(days=3)) is not None  # exactly that old
    store.put(entry("run-new", age=timedelta(hours=1)))
    found = store.lookup(KEY, max_staleness=timedelta(days=2))
    assert found is not None and found.run_id == "run-new"
    assert store.lookup(KEY, max_staleness=timedelta(0)) is None


def test_put_is_idempotent_and_keeps_the_first_row(store: CacheStore, engine: Engine) -> None:
    store.put(entry("run-a"))
    store.put(entry("run-a", outputs={"parameters": {"Output": "second"}, "artifacts": {}}))
    assert count(engine) == 1
    found = store.lookup(KEY, max_staleness=None)
    assert found is not None and found.outputs["parameters"]["Output"] == "run-a"
    store.put(entry("run-a", task_id="task-2"))  # another task of the run is another entry
    assert count(engine) == 2


def test_a_key_that_is_not_a_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="key must be a sha256 hex digest"):
        entry("run-a", key="short")


def _race(workers: int, work: Callable[[int], None]) -> None:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


@pytest.fixture
def second_engine(database_url: str) -> Iterator[Engine]:
    """Another engine on the same database: a second process (the webhook, say)."""
    other = build_engine(database_url)
    try:
        yield other
    finally:
        other.dispose()


def test_concurrent_puts_of_the_same_execution_leave_one_row(
    store: CacheStore, engine: Engine, second_engine: Engine
) -> None:
    stores = [store, CacheStore(second_engine, clock=lambda: NOW)]
    _race(8, lambda i: stores[i % 2].put(entry("run-a", outputs={"parameters": {"i": i}})))
    assert count(engine) == 1
    assert store.lookup(KEY, max_staleness=None) is not None


def test_concurrent_puts_of_one_key_from_many_runs_are_all_kept(
    store: CacheStore, engine: Engine, second_engine: Engine
) -> None:
    stores = [store, CacheStore(second_engine, clock=lambda: NOW)]
    _race(8, lambda i: stores[i % 2].put(entry(f"run-{i}", age=timedelta(seconds=10 - i))))
    assert count(engine) == 8
    found = store.lookup(KEY, max_staleness=None)
    assert found is not None and found.run_id == "run-7"
