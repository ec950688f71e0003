"""The UI's route class and how page handlers reach the services.

Every page handler runs inside ``PageRoute``: a domain error (unknown id, bad input, a
refused transition) becomes an HTML page that says what went wrong with the right status,
and anything unexpected becomes a plain "something went wrong" page with a request id,
never a stack trace. The REST routes keep their JSON errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from api_server.services import (
    ExperimentService,
    PipelineService,
    RecurringRunService,
    RunService,
)
from domain.errors import DomainError

from .templating import Pages

logger = logging.getLogger(__name__)

_TITLES = {404: "Not found", 400: "Cannot do that", 409: "Conflict", 503: "Unavailable"}


class UiServices(Protocol):
    """What the UI reads from the app's service container."""

    @property
    def pipelines(self) -> PipelineService: ...
    @property
    def experiments(self) -> ExperimentService: ...
    @property
    def runs(self) -> RunService: ...
    @property
    def recurring_runs(self) -> RecurringRunService: ...


def services_of(request: Request) -> UiServices:
    return cast(UiServices, request.app.state.services)


def pages_of(request: Request) -> Pages:
    return cast(Pages, request.app.state.ui_pages)


def error_page(request: Request, status: int, message: str) -> Response:
    title = _TITLES.get(status, "Something went wrong")
    return pages_of(request).render(
        request, "error.html", status_code=status, title=title, message=message, status=status
    )


class PageRoute(APIRoute):
    """An APIRoute whose errors are rendered as HTML pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                return error_page(request, exc.http_status, exc.message)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
                    for e in exc.errors()
                )
                return error_page(request, 400, problems or "invalid request")
            except Exception:
                request_id = str(request.scope.get("state", {}).get("request_id", "") or "")
                logger.exception(
                    "page failed", extra={"path": request.url.path, "request_id": request_id}
                )
                return error_page(
                    request,
                    500,
                    f"The page could not be shown (request id {request_id or 'unknown'}). "
                    "The server log has the details.",
                )

        return page_handler
