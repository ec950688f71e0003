"""Run, storage and schedule state enums, with their KFP wire names and proto numbers."""

from __future__ import annotations

import enum


class RuntimeState(enum.StrEnum):
    """A run's or task's state. Member order is the proto number."""

    RUNTIME_STATE_UNSPECIFIED = "RUNTIME_STATE_UNSPECIFIED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    PAUSED = "PAUSED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {RuntimeState.SUCCEEDED, RuntimeState.SKIPPED, RuntimeState.FAILED, RuntimeState.CANCELED}
)


# States a backend may still act on (it resumes these after a restart).
ACTIVE_STATES = frozenset(
    {RuntimeState.PENDING, RuntimeState.RUNNING, RuntimeState.PAUSED, RuntimeState.CANCELING}
)


class StorageState(enum.StrEnum):
    STORAGE_STATE_UNSPECIFIED = "STORAGE_STATE_UNSPECIFIED"
    AVAILABLE = "AVAILABLE"
    ARCHIVED = "ARCHIVED"


class RecurringRunStatus(enum.StrEnum):
    STATUS_UNSPECIFIED = "STATUS_UNSPECIFIED"
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


def enum_names(enum_cls: type[enum.StrEnum]) -> tuple[str, ...]:
    """Wire names in proto-number order (index = number)."""
    return tuple(member.value for member in enum_cls)
