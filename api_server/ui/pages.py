"""The UI's routers, in matching order, and the not-found page for unknown UI paths."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.routing import Match
from starlette.types import Scope

from . import compare, experiments, pipelines, recurring_runs, runs
from .routing import PageRoute, error_page

# Paths owned by the API and the server: unknown ones keep the API's JSON 404 (and a wrong
# method on a known one its 405), so the fallback does not even match them.
_NOT_UI = ("/apis/", "/pipeline/", "/metrics", "/docs", "/openapi.json", "/static/")


class FallbackRoute(PageRoute):
    def matches(self, scope: Scope) -> tuple[Match, MutableMapping[str, Any]]:
        if str(scope.get("path", "")).startswith(_NOT_UI):
            return Match.NONE, {}
        return super().matches(scope)


fallback = APIRouter(route_class=FallbackRoute, include_in_schema=False)


@fallback.get("/{path:path}", name="ui_not_found")
def not_found(request: Request, path: str) -> Response:
    return error_page(request, 404, f"There is no page at /{path}.")


def routers() -> list[APIRouter]:
    return [
        runs.router,
        experiments.router,
        pipelines.router,
        recurring_runs.router,
        compare.router,
        fallback,
    ]
