"""The one table from errors to HTTP: status code and KFP's ``{"code","message","details"}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api_server.services.errors import database_error, internal_error_message
from domain.errors import DomainError

logger = logging.getLogger(__name__)

# HTTP statuses Starlette raises itself (unknown route, wrong method) as gRPC codes.
_HTTP_TO_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 413: 3, 429: 8, 503: 14}


def error_body(
    code: int, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details or []}


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "") or "")


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse(
        error_body(exc.grpc_code, exc.message, exc.details), status_code=exc.http_status
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
        ]
        field = ".".join(location) or "body"
        problems.append(f"{field}: {error.get('msg', 'invalid')}")
    message = "; ".join(problems) or "invalid request"
    return JSONResponse(error_body(3, message), status_code=400)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_TO_GRPC.get(exc.status_code, 2)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such API path: {request.method} {request.url.path}"
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Reached only when a driver error escaped the unit of work's translation.
    assert isinstance(exc, DBAPIError)
    translated = database_error(exc)
    if translated is None:
        return await _internal_error(request, exc)
    return await _domain_error(request, translated)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id(request)
    logger.error(
        "unhandled error", exc_info=exc, extra={"request_id": rid, "path": request.url.path}
    )
    return JSONResponse(
        error_body(13, internal_error_message(rid)),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _internal_error)
