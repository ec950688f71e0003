from __future__ import annotations

from datetime import datetime

from domain.resources import Experiment, Page

from .base import WireModel


class ExperimentIn(WireModel):
    display_name: str | None = None
    description: str | None = None
    namespace: str | None = None


class ExperimentOut(WireModel):
    experiment_id: str
    display_name: str
    description: str | None = None
    created_at: datetime
    namespace: str | None = None
    storage_state: str
    last_run_created_at: datetime | None = None

    @classmethod
    def from_domain(cls, e: Experiment) -> ExperimentOut:
        return cls(
            experiment_id=e.experiment_id,
            display_name=e.display_name,
            description=e.description or None,
            created_at=e.created_at,
            namespace=e.namespace or None,
            storage_state=e.storage_state,
            last_run_created_at=e.last_run_created_at,
        )


class ListExperimentsOut(WireModel):
    experiments: list[ExperimentOut] | None = None
    total_size: int
    next_page_token: str | None = None

    @classmethod
    def from_page(cls, page: Page[Experiment]) -> ListExperimentsOut:
        return cls(
            experiments=[ExperimentOut.from_domain(e) for e in page.items] or None,
            total_size=page.total_size,
            next_page_token=page.next_page_token or None,
        )
