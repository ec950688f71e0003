"""The one table from errors to gRPC: status code, the same message REST sends, and a
``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer.

Every unary call passes through ``ErrorTranslation``, so servicers raise domain errors and
never touch status codes themselves.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2
from sqlalchemy.exc import DBAPIError

from api_server.grpc_api.messages import packed_details
from api_server.services.errors import database_error, internal_error_message
from domain.errors import DomainError

logger = logging.getLogger(__name__)

# Canonical code number (DomainError.grpc_code) -> grpc.StatusCode.
STATUS_CODES: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}
DETAILS_TRAILER = "grpc-status-details-bin"


@dataclass(frozen=True)
class RichStatus(grpc.Status):
    """What ``ServicerContext.abort_with_status`` needs: code, message and trailers."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...]


def rich_status(code: int, message: str, details: list[Any] | None = None) -> RichStatus:
    """A status whose trailer carries the same code and message as a ``google.rpc.Status``,
    as grpc-gateway based servers send it."""
    status = status_pb2.Status(code=code, message=message, details=details or [])
    return RichStatus(
        STATUS_CODES.get(code, grpc.StatusCode.UNKNOWN),
        message,
        ((DETAILS_TRAILER, status.SerializeToString()),),
    )


def domain_status(exc: DomainError) -> RichStatus:
    return rich_status(exc.grpc_code, exc.message, packed_details(exc.details))


def internal_status(method: str, exc: BaseException) -> RichStatus:
    """INTERNAL with a request id, logged once here. Like KFP, the details carry a
    google.rpc.Status (code UNKNOWN) holding the message."""
    request_id = uuid.uuid4().hex
    logger.error("unhandled error", exc_info=exc, extra={"request_id": request_id, "rpc": method})
    message = internal_error_message(request_id)
    detail = any_pb2.Any()
    detail.Pack(status_pb2.Status(code=code_pb2.UNKNOWN, message=message))
    return rich_status(code_pb2.INTERNAL, message, [detail])


def status_of(method: str, exc: Exception) -> RichStatus:
    """The status a failed call answers with."""
    if isinstance(exc, DomainError):
        return domain_status(exc)
    if isinstance(exc, DBAPIError):
        translated = database_error(exc)
        if translated is not None:
            return domain_status(translated)
    return internal_status(method, exc)


Behaviour = Callable[[Any, grpc.ServicerContext], Any]


def _translating(method: str, behaviour: Behaviour) -> Behaviour:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behaviour(request, context)
        except Exception as exc:
            status = status_of(method, exc)
        # Outside the except block: abort raises, and must not be caught as a failure.
        context.abort_with_status(status)

    return call


class ErrorTranslation(grpc.ServerInterceptor):
    """Turns exceptions of unary calls into statuses through the table above."""

    def __init__(self) -> None:
        # One wrapped handler per method, built on its first call.
        self._handlers: dict[str, grpc.RpcMethodHandler | None] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method in self._handlers:
            return self._handlers[method]
        handler = continuation(handler_call_details)
        if handler is not None and handler.unary_unary is not None:
            handler = grpc.unary_unary_rpc_method_handler(
                _translating(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler is not None:
            self._handlers[method] = handler
        return handler
