"""Query parameters every list call shares. Values arrive as strings and are checked by the
service, so a bad ``page_size`` is a 400 that names it rather than a framework error."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from api_server.services import ListQuery
from domain.errors import InvalidArgument


async def list_query(
    page_token: Annotated[
        str | None, Query(description="opaque token from the previous page")
    ] = None,
    page_size: Annotated[
        str | None, Query(description="1-200, default 20; larger is clamped")
    ] = None,
    sort_by: Annotated[
        str | None, Query(description="'field', 'field asc' or 'field desc'")
    ] = None,
    filter: Annotated[
        str | None, Query(description="URL-encoded JSON filter of predicates")
    ] = None,
) -> ListQuery:
    return ListQuery.from_params(
        filter=filter, sort_by=sort_by, page_size=page_size, page_token=page_token
    )


ListParams = Annotated[ListQuery, Depends(list_query)]
OptionalText = Annotated[str | None, Query()]


def parse_bool(field: str, value: str | None) -> bool:
    """Booleans as Python's urlencode sends them (``True``) and as humans do (``true``, 1)."""
    if value in (None, ""):
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidArgument(f"{field}: must be true or false, got {value!r}")
