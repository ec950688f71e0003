"""Errors both transports report the same way that do not start as a ``DomainError``: driver
errors that escaped a unit of work's own translation, and unexpected failures."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from domain.errors import AlreadyExists, DomainError, Unavailable


def database_error(exc: DBAPIError) -> DomainError | None:
    """The domain error a driver error stands for, or None when it is a bug (internal)."""
    if isinstance(exc, IntegrityError):
        return AlreadyExists("the resource conflicts with an existing one")
    if isinstance(exc, OperationalError):
        return Unavailable("the database is unavailable; retry")
    return None


def internal_error_message(request_id: str) -> str:
    """What a client sees of an unexpected failure: never SQL or a stack trace, only the id
    that finds the logged one."""
    return f"internal error (request id {request_id}); see the server log"
