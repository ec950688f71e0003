"""Reading a multipart pipeline upload without ever buffering more than the limit."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from domain.errors import InvalidArgument, PayloadTooLarge

# Room for the multipart envelope (boundaries, part headers) around the file itself.
_ENVELOPE_BYTES = 64 * 1024
FILE_FIELD = "uploadfile"


async def read_upload(request: Request, max_bytes: int) -> tuple[bytes, str | None]:
    """The ``uploadfile`` part's bytes and file name. 413 as soon as the body passes the
    limit; 400 if the request is not multipart or has no ``uploadfile`` part."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + _ENVELOPE_BYTES:
        raise PayloadTooLarge(
            f"{FILE_FIELD}: the upload is {declared} bytes; the limit is {max_bytes}"
        )
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise InvalidArgument(
            f"{FILE_FIELD}: expected a multipart/form-data body"
            f" with a file part named {FILE_FIELD!r}"
        )
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > max_bytes + _ENVELOPE_BYTES:
            raise PayloadTooLarge(
                f"{FILE_FIELD}: the upload exceeds the limit of {max_bytes} bytes"
            )
    # Starlette parses the form from the cached body; nothing is read twice from the socket.
    request._body = bytes(received)
    try:
        form = await request.form(max_files=1, max_fields=16)
    except Exception as exc:  # python-multipart reports malformed bodies with many types
        raise InvalidArgument(f"{FILE_FIELD}: malformed multipart body: {exc}") from exc
    part = form.get(FILE_FIELD)
    if not isinstance(part, UploadFile):
        raise InvalidArgument(f"{FILE_FIELD}: a file part named {FILE_FIELD!r} is required")
    content = await part.read()
    if len(content) > max_bytes:
        raise PayloadTooLarge(
            f"{FILE_FIELD}: the file is {len(content)} bytes; the limit is {max_bytes}"
        )
    return content, part.filename
