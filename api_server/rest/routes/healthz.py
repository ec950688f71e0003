from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api_server.rest.dependencies import services
from api_server.rest.errors import error_body
from domain import version

router = APIRouter(tags=["HealthzService"])


@router.get("/healthz", operation_id="healthz_service_get_healthz")
def get_healthz(request: Request) -> JSONResponse:
    """Liveness plus a one-row database round trip; 503 if the database is unreachable."""
    try:
        with services(request).db.read() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse(error_body(14, "the database is unreachable"), status_code=503)
    return JSONResponse(
        {
            "multi_user": False,
            "pipeline_store": "database",
            "commit_sha": version.COMMIT_SHA,
            "tag_name": version.VERSION,
        }
    )
