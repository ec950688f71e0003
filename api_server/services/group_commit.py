"""Group commit: concurrent callers' writes share one transaction and one commit.

Callers hand in one item each and block until it is written. The first caller with no
batch in progress becomes the leader: it writes every item queued so far (its own first)
with one ``write_batch`` call, gives each caller its own outcome, and hands the lead to
the oldest caller that queued meanwhile. Items pile up while a batch commits, so batches
grow with the load and a lone caller is written at once, with no waiting for company.

``write_batch`` returns one outcome per item: a result, or the exception that item's caller
gets (a refused item does not fail the others). If ``write_batch`` raises, nothing of the
batch was written: each item is then written in a batch of its own, so only the item that
causes the failure fails (unless the error is one every item would meet).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Ticket(Generic[T, R]):
    """One caller's item, its outcome once written, and the signal that wakes its caller
    (because its item was written, or because it is to lead the next batch)."""

    __slots__ = ("is_done", "item", "outcome", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.outcome: R | BaseException | None = None
        self.is_done = False
        self.wake = threading.Event()


class GroupCommit(Generic[T, R]):
    """Writes concurrently submitted items in shared batches (see the module docstring)."""

    def __init__(
        self,
        write_batch: Callable[[Sequence[T]], Sequence[R | BaseException]],
        *,
        max_batch: int = 128,
        is_item_error: Callable[[Exception], bool] = lambda exc: True,
    ) -> None:
        """``is_item_error(exc)``: whether a batch that raised ``exc`` is worth writing again
        item by item; False for errors every item would meet (the database is down), which
        then go to every caller of the batch at once."""
        self._write_batch = write_batch
        self._is_item_error = is_item_error
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Ticket[T, R]] = deque()
        self._has_leader = False

    def submit(self, item: T) -> R:
        """Write ``item`` (in a batch with whatever else is queued); its result, or raise
        its error."""
        ticket: _Ticket[T, R] = _Ticket(item)
        with self._lock:
            self._queue.append(ticket)
            leads = not self._has_leader
            self._has_leader = True
        if not leads:
            ticket.wake.wait()
        if not ticket.is_done:
            self._lead()
        if isinstance(ticket.outcome, BaseException):
            raise ticket.outcome
        return ticket.outcome  # type: ignore[return-value]

    def _lead(self) -> None:
        """Write one batch (the leader's own item is the oldest queued), then pass the lead
        on to the oldest caller still waiting, or give it up if none is."""
        with self._lock:
            count = min(len(self._queue), self._max_batch)
            batch = [self._queue.popleft() for _ in range(count)]
        try:
            self._write(batch)
        finally:
            for ticket in batch:
                if not ticket.is_done:  # write_batch raised something not an Exception
                    ticket.outcome = RuntimeError("the batch this write was in failed")
                    ticket.is_done = True
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()
                else:
                    self._has_leader = False
            for ticket in batch[1:]:
                ticket.wake.set()

    def _write(self, batch: list[_Ticket[T, R]]) -> None:
        try:
            outcomes = list(self._write_batch([ticket.item for ticket in batch]))
        except Exception as exc:
            if len(batch) == 1 or not self._is_item_error(exc):
                outcomes = [exc] * len(batch)
            else:
                # Nothing was written: write each alone, so only the culprit fails.
                for ticket in batch:
                    self._write([ticket])
                return
        if len(outcomes) != len(batch):
            raise RuntimeError(f"write_batch gave {len(outcomes)} outcomes for {len(batch)} items")
        for ticket, outcome in zip(batch, outcomes, strict=True):
            ticket.outcome = outcome
            ticket.is_done = True
