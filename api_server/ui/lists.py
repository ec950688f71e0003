"""List pages over the service layer's listings: KFP filters built from form fields, sorts
limited to indexed fields, and name look-ups for a page's rows in one query each.

Paging is the service's keyset paging: the page token travels in the URL, so "next" costs
what the first page costs, and the browser's Back button returns to earlier pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from api_server.services import ListQuery
from domain.errors import InvalidArgument
from domain.resources import Page
from domain.states import StorageState

from .routing import UiServices

PAGE_SIZES = (20, 50, 100)


def predicate(key: str, operation: str, **value: Any) -> dict[str, Any]:
    return {"key": key, "operation": operation, **value}


def filter_json(predicates: list[dict[str, Any]]) -> str | None:
    return json.dumps({"predicates": predicates}) if predicates else None


@dataclass(frozen=True)
class SortChoice:
    """A sort the page offers: a sortable field and a direction."""

    key: str
    descending: bool

    @property
    def sort_by(self) -> str:
        return f"{self.key} desc" if self.descending else self.key


def parse_sort(raw: str | None, allowed: Iterable[str], default: str) -> SortChoice:
    """``created_at`` or ``-created_at`` (descending); only fields the page offers."""
    text = (raw or default).strip()
    descending = text.startswith("-")
    key = text.lstrip("-")
    if key not in set(allowed):
        raise InvalidArgument(f"sort: cannot sort by {key!r}")
    return SortChoice(key, descending)


def parse_page_size(raw: str | None) -> int:
    if not raw:
        return PAGE_SIZES[0]
    if not raw.isdigit() or int(raw) not in PAGE_SIZES:
        raise InvalidArgument(f"page_size: choose one of {', '.join(map(str, PAGE_SIZES))}")
    return int(raw)


def parse_local_time(field: str, raw: str | None, tz_offset_minutes: int) -> datetime | None:
    """A ``datetime-local`` value typed in the browser's zone, as aware UTC.

    ``tz_offset_minutes`` is JavaScript's ``getTimezoneOffset()`` (UTC minus local); the
    page script sends it with the form, and without script the time is read as UTC.
    """
    if not raw:
        return None
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidArgument(f"{field}: not a date and time: {raw!r}") from exc
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return (naive + timedelta(minutes=tz_offset_minutes)).replace(tzinfo=UTC)


def parse_tz(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        minutes = int(raw)
    except ValueError as exc:
        raise InvalidArgument(f"tz: not a number of minutes: {raw!r}") from exc
    if abs(minutes) > 24 * 60:
        raise InvalidArgument("tz: offset out of range")
    return minutes


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def url_with(path: str, params: dict[str, Any], **changes: Any) -> str:
    """``path`` with the current query parameters, some changed (None removes one)."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept, doseq=True)}" if kept else path


def _names_by_id(
    list_page: Callable[[ListQuery], Page[Any]], key: str, ids: Iterable[str]
) -> dict[str, str]:
    """Display names of the resources with the given ids (``key``), in one list call."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    query = ListQuery(
        filter=filter_json([predicate(key, "IN", string_values={"values": wanted})]),
        page_size=len(wanted),
    )
    return {getattr(item, key): item.display_name for item in list_page(query).items}


def experiment_names(services: UiServices, ids: Iterable[str]) -> dict[str, str]:
    return _names_by_id(
        lambda query: services.experiments.list(query, namespace=None), "experiment_id", ids
    )


def pipeline_names(services: UiServices, ids: Iterable[str]) -> dict[str, str]:
    return _names_by_id(
        lambda query: services.pipelines.list(query, namespace=None), "pipeline_id", ids
    )


def paging_links(
    path: str, params: dict[str, str], next_page_token: str, sort: SortChoice
) -> dict[str, Any]:
    """The template's ``next_url``, ``first_url`` and ``sort_url(key)`` for a list page.

    A column's sort link sorts descending first and flips direction when already chosen;
    changing the sort starts again at page one (a token belongs to one sort)."""
    base = {k: v for k, v in params.items() if k != "page_token"}

    def sort_url(key: str) -> str:
        return url_with(path, base, sort=key if sort.key == key and sort.descending else f"-{key}")

    return {
        "next_url": url_with(path, base, page_token=next_page_token) if next_page_token else None,
        "first_url": url_with(path, base) if params.get("page_token") else None,
        "sort_url": sort_url,
    }


def is_archive_view(params: dict[str, str]) -> bool:
    return params.get("archived") == "1"


def common_predicates(params: dict[str, str], *, archivable: bool) -> list[dict[str, Any]]:
    """The filters every list form has: the name search and, for resources that can be
    archived, which side of the archive to show (available unless ``archived=1``)."""
    predicates = []
    if archivable:
        state = StorageState.ARCHIVED if is_archive_view(params) else StorageState.AVAILABLE
        predicates.append(predicate("storage_state", "EQUALS", string_value=state.value))
    if params.get("name"):
        predicates.append(predicate("display_name", "IS_SUBSTRING", string_value=params["name"]))
    return predicates


def list_query(
    params: dict[str, str], predicates: list[dict[str, Any]], sort: SortChoice
) -> ListQuery:
    """The service's list parameters for a list page (page size and token from the URL)."""
    return ListQuery(
        filter=filter_json(predicates),
        sort_by=sort.sort_by,
        page_size=parse_page_size(params.get("page_size")),
        page_token=params.get("page_token") or None,
    )
