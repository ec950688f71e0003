"""What every service needs, built once by the composition root."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from api_server.listing import ListOptions, Sort, parse_list_options
from api_server.listing.fields import ResourceFields
from api_server.storage import Database, SpecStore


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ListQuery:
    """The raw list parameters as a client sent them; parsed by the service."""

    filter: str | None = None
    sort_by: str | None = None
    page_size: str | int | None = None
    page_token: str | None = None

    @classmethod
    def from_params(
        cls,
        *,
        filter: str | None,
        sort_by: str | None,
        page_size: str | int | None,
        page_token: str | None,
    ) -> ListQuery:
        """The query as either transport received it. An empty string (``?filter=``, or a
        proto3 string left at its default) means "not given"; a page size of 0 already
        means the default page size, so it is passed on as it is."""
        return cls(
            filter=_given(filter),
            sort_by=_given(sort_by),
            page_size=_given(page_size),
            page_token=_given(page_token),
        )


def _given(value: str | int | None) -> Any:
    return None if value == "" else value


DEFAULT_SORT = Sort(key="created_at", descending=False)


@dataclass
class ServiceContext:
    db: Database
    specs: SpecStore
    page_token_secret: bytes
    max_upload_bytes: int = 32 * 1024 * 1024
    package_url_timeout_seconds: float = 30.0
    clock: Callable[[], datetime] = utc_now
    new_id: Callable[[], str] = new_uuid
    # The zone cron expressions of recurring runs are read in (settings.schedule_timezone).
    schedule_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def list_options(
        self, query: ListQuery, fields: ResourceFields, scope: dict[str, Any]
    ) -> ListOptions:
        """Parse and check a list request; InvalidArgument names the bad parameter."""
        return parse_list_options(
            fields=fields,
            default_sort=DEFAULT_SORT,
            filter=query.filter,
            sort_by=query.sort_by,
            page_size=query.page_size,
            page_token=query.page_token,
            scope=scope,
            secret=self.page_token_secret,
        )
