"""Typed domain errors.

Services raise these; each transport maps them once (REST: ``api_server/rest/errors.py``,
gRPC: its own table). The ``grpc_code`` is the canonical gRPC status code number, which is
also the ``code`` field of KFP's JSON error body.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service may raise on purpose."""

    grpc_code: int = 13  # INTERNAL
    http_status: int = 500

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidArgument(DomainError):
    grpc_code = 3
    http_status = 400


class PayloadTooLarge(InvalidArgument):
    """An upload over the configured limit: code InvalidArgument, HTTP 413."""

    http_status = 413


class FailedPrecondition(DomainError):
    grpc_code = 9
    http_status = 400


class OutOfRange(DomainError):
    grpc_code = 11
    http_status = 400


class Unauthenticated(DomainError):
    grpc_code = 16
    http_status = 401


class PermissionDenied(DomainError):
    grpc_code = 7
    http_status = 403


class NotFound(DomainError):
    grpc_code = 5
    http_status = 404


class AlreadyExists(DomainError):
    grpc_code = 6
    http_status = 409


class Aborted(DomainError):
    grpc_code = 10
    http_status = 409


class ResourceExhausted(DomainError):
    grpc_code = 8
    http_status = 429


class Unimplemented(DomainError):
    """A defined operation this server does not carry out (yet)."""

    grpc_code = 12
    http_status = 501


class Unavailable(DomainError):
    """The database is locked or unreachable; the client may retry."""

    grpc_code = 14
    http_status = 503


class Internal(DomainError):
    grpc_code = 13
    http_status = 500
