"""The group commit core: concurrent items share batches, each caller gets its own outcome,
and a batch that fails is written item by item so only the culprit fails."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from api_server.services.group_commit import GroupCommit
from domain.errors import AlreadyExists

WAIT = 10.0


class Writer:
    """A ``write_batch`` that records its batches; the first batch can be held open until
    the other callers have queued behind it."""

    def __init__(self, *, hold_first_until_queued: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.hold_first_until_queued = hold_first_until_queued
        self.commit: GroupCommit[int, int] | None = None
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        with self._lock:
            self.batches.append(list(items))
            first = len(self.batches) == 1
        if first and self.hold_first_until_queued:
            assert self.commit is not None
            wait_until(lambda: queued(self.commit) >= self.hold_first_until_queued)
        if any(item < 0 for item in items) and len(items) > 1:
            raise RuntimeError("the batch failed as a whole")
        if items == [-1]:
            raise RuntimeError("item -1 cannot be written")
        return [AlreadyExists(f"item {i} exists") if i == 13 else i * 10 for i in items]


def queued(commit: GroupCommit[int, int] | None) -> int:
    assert commit is not None
    return len(commit._queue)


def wait_until(condition: object) -> None:
    event = threading.Event()
    for _ in range(int(WAIT / 0.001)):
        if condition():  # type: ignore[operator]
            return
        event.wait(0.001)
    raise AssertionError("condition not met in time")


def submit_all(commit: GroupCommit[int, int], items: list[int]) -> list[int | BaseException]:
    def submit(item: int) -> int | BaseException:
        try:
            return commit.submit(item)
        except Exception as exc:  # asserted on by the test
            return exc

    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(submit, items))


def behind_a_held_batch(
    writer: Writer, commit: GroupCommit[int, int], items: list[int]
) -> list[int | BaseException]:
    """Submit 0 (its batch held open by ``writer``), then ``items`` from threads of their
    own while it is held; the outcomes of ``items``, once 0's caller is answered too."""
    writer.commit = commit
    first = threading.Thread(target=commit.submit, args=(0,))
    first.start()
    wait_until(lambda: len(writer.batches) == 1)
    results = submit_all(commit, items)
    first.join(WAIT)
    return results


def test_a_lone_item_is_written_at_once_in_a_batch_of_its_own() -> None:
    writer = Writer()
    commit: GroupCommit[int, int] = GroupCommit(writer)
    assert commit.submit(4) == 40
    assert commit.submit(5) == 50
    assert writer.batches == [[4], [5]]


def test_items_queued_during_a_write_share_the_next_batch() -> None:
    writer = Writer(hold_first_until_queued=5)
    commit: GroupCommit[int, int] = GroupCommit(writer)
    results = behind_a_held_batch(writer, commit, [1, 2, 3, 4, 5])
    assert results == [10, 20, 30, 40, 50]
    assert writer.batches[0] == [0]
    assert sorted(writer.batches[1]) == [1, 2, 3, 4, 5]


def test_a_refused_item_fails_alone() -> None:
    writer = Writer(hold_first_until_queued=3)
    commit: GroupCommit[int, int] = GroupCommit(writer)
    results = behind_a_held_batch(writer, commit, [1, 13, 2])
    assert results[0] == 10 and results[2] == 20
    assert isinstance(results[1], AlreadyExists)
    assert sorted(writer.batches[1]) == [1, 2, 13]


def test_a_failed_batch_is_written_item_by_item_so_only_the_culprit_fails() -> None:
    writer = Writer(hold_first_until_queued=3)
    commit: GroupCommit[int, int] = GroupCommit(writer)
    results = behind_a_held_batch(writer, commit, [1, -1, 2])
    assert results[0] == 10 and results[2] == 20
    assert isinstance(results[1], RuntimeError)
    assert str(results[1]) == "item -1 cannot be written"
    assert sorted(writer.batches[1]) == [-1, 1, 2]
    assert sorted(writer.batches[2:]) == [[-1], [1], [2]]


def test_batches_are_capped_and_every_caller_is_answered() -> None:
    writer = Writer(hold_first_until_queued=10)
    commit: GroupCommit[int, int] = GroupCommit(writer, max_batch=4)
    items = list(range(1, 11))
    assert behind_a_held_batch(writer, commit, items) == [i * 10 for i in items]
    assert [len(batch) for batch in writer.batches] == [1, 4, 4, 2]
    # Nobody leads once the queue is empty: the next item leads a batch of its own.
    assert commit.submit(7) == 70
    assert writer.batches[-1] == [7]


@pytest.mark.parametrize("threads", [2, 16])
def test_many_callers_all_get_their_own_result(threads: int) -> None:
    writer = Writer()
    commit: GroupCommit[int, int] = GroupCommit(writer)
    items = [i for i in range(200) if i != 13]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(commit.submit, items))
    assert results == [i * 10 for i in items]
    assert sorted(i for batch in writer.batches for i in batch) == items


def test_an_error_every_item_would_meet_goes_to_the_whole_batch_at_once() -> None:
    writer = Writer(hold_first_until_queued=3)
    commit: GroupCommit[int, int] = GroupCommit(
        writer, is_item_error=lambda exc: "as a whole" not in str(exc)
    )
    results = behind_a_held_batch(writer, commit, [1, -1, 2])
    assert all(isinstance(r, RuntimeError) and "as a whole" in str(r) for r in results)
    assert len(writer.batches) == 2  # no batch of one after the failed batch
