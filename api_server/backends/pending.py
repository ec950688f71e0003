"""The backend used until an engine is configured: runs are stored and stay PENDING.

``reports_cancellation`` is False, so the service layer cancels a terminated run itself.
"""

from __future__ import annotations

import logging

from .base import StatusSink, SubmittedRun

logger = logging.getLogger(__name__)


class PendingBackend:
    reports_cancellation = False

    def start(self, sink: StatusSink) -> None:
        logger.info("no run engine configured: runs are accepted and stay PENDING")

    def submit(self, run: SubmittedRun) -> None:
        logger.debug("run accepted", extra={"run_id": run.run_id})

    def terminate(self, run_id: str) -> None:
        logger.debug("run terminated before execution", extra={"run_id": run_id})

    def retry(self, run: SubmittedRun) -> None:
        logger.debug("run queued for retry", extra={"run_id": run.run_id})

    def forget(self, run_id: str) -> None:
        return None  # it keeps nothing

    def stop(self) -> None:
        return None
