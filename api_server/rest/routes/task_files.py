"""Task logs and artifact content: the two routes KFP's server answers outside the
generated client (``reference/kfp-api.md``, section 1)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api_server.rest.dependencies import services
from api_server.services.task_files import TaskFileService

router = APIRouter(tags=["RunService"])
log_router = APIRouter(tags=["RunService"])


async def _task_files(request: Request) -> TaskFileService:
    return services(request).task_files


TaskFiles = Annotated[TaskFileService, Depends(_task_files)]


@router.get(
    "/runs/{run_id}/nodes/{node_id}/artifacts/{artifact_name}:read",
    operation_id="run_service_read_artifact",
)
def read_artifact(run_id: str, node_id: str, artifact_name: str, files: TaskFiles) -> Response:
    """``{"data": <base64>}``: a file artifact's bytes, a folder artifact as a gzipped tar."""
    data = files.artifact(run_id, node_id, artifact_name)
    return JSONResponse({"data": base64.b64encode(data).decode("ascii")})


@log_router.get("/runs/{run_id}/nodes/{node_id}/log", operation_id="read_node_log")
async def read_log(
    run_id: str,
    node_id: str,
    files: TaskFiles,
    follow_log: Annotated[bool, Query(alias="follow")] = False,
) -> Response:
    """The task's stdout and stderr as plain text; ``?follow=true`` streams it until the
    task ends."""
    log = await run_in_threadpool(files.log, run_id, node_id)
    if follow_log and not log.finished:
        return StreamingResponse(
            files.follow_log(run_id, node_id, log),
            media_type="text/plain; charset=utf-8",
        )
    content = await run_in_threadpool(files.read_log, log)
    return Response(content, media_type="text/plain; charset=utf-8")
