"""Run backends: what executes a stored run (embedded engine, Argo on Kubernetes)."""

from .base import (
    RestoredTask,
    RunBackend,
    RunStatusEvent,
    StatusSink,
    SubmittedRun,
    TaskStatusEvent,
)
from .pending import PendingBackend

__all__ = [
    "PendingBackend",
    "RestoredTask",
    "RunBackend",
    "RunStatusEvent",
    "StatusSink",
    "SubmittedRun",
    "TaskStatusEvent",
]
