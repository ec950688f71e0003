"""What the service tests feed in: the compiled pipeline corpus and a controllable clock
(``ServiceContext.clock``)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

COMPILED = Path(__file__).resolve().parents[1] / "pipelines" / "compiled"


class Clock:
    """A service clock that ticks one millisecond per reading, so creation order is the
    order of ``created_at`` and times in assertions are known in advance."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += timedelta(milliseconds=1)
            return self._now

    @property
    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now
