"""The gRPC error table: every domain error keeps its code and message; driver errors and
bugs read as REST reports them."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import code_pb2, status_pb2
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from api_server.grpc_api.errors import DETAILS_TRAILER, RichStatus, status_of
from domain import errors


def trailer_status(status: RichStatus) -> status_pb2.Status:
    (key, value), *_ = status.trailing_metadata
    assert key == DETAILS_TRAILER
    return status_pb2.Status.FromString(value)


def domain_errors() -> list[type[errors.DomainError]]:
    found, pending = [], [errors.DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", domain_errors(), ids=lambda c: c.__name__)
def test_every_domain_error_keeps_its_code_and_message(cls: type[errors.DomainError]) -> None:
    status = status_of("/x.Y/Z", cls("field: the problem"))
    assert status.code.value[0] == cls.grpc_code
    assert status.details == "field: the problem"
    carried = trailer_status(status)
    assert (carried.code, carried.message, list(carried.details)) == (
        cls.grpc_code,
        "field: the problem",
        [],
    )


def test_the_named_codes() -> None:
    assert status_of("m", errors.NotFound("x")).code == grpc.StatusCode.NOT_FOUND
    assert status_of("m", errors.InvalidArgument("x")).code == grpc.StatusCode.INVALID_ARGUMENT
    assert status_of("m", errors.PayloadTooLarge("x")).code == grpc.StatusCode.INVALID_ARGUMENT
    assert status_of("m", errors.AlreadyExists("x")).code == grpc.StatusCode.ALREADY_EXISTS
    assert status_of("m", errors.Unimplemented("x")).code == grpc.StatusCode.UNIMPLEMENTED
    assert status_of("m", errors.Unavailable("x")).code == grpc.StatusCode.UNAVAILABLE


def test_error_details_travel_as_structs() -> None:
    status = status_of("m", errors.InvalidArgument("bad", details=[{"field": "filter"}]))
    (detail,) = trailer_status(status).details
    unpacked = struct_pb2.Struct()
    assert detail.Unpack(unpacked)
    assert dict(unpacked) == {"field": "filter"}


def test_driver_errors_read_as_rest_reports_them() -> None:
    conflict = status_of("m", IntegrityError("INSERT", {}, Exception("dup")))
    assert conflict.code == grpc.StatusCode.ALREADY_EXISTS
    assert conflict.details == "the resource conflicts with an existing one"
    down = status_of("m", OperationalError("SELECT", {}, Exception("gone")))
    assert down.code == grpc.StatusCode.UNAVAILABLE
    assert down.details == "the database is unavailable; retry"


def test_a_bug_is_internal_with_a_request_id_and_no_sql(caplog: pytest.LogCaptureFixture) -> None:
    status = status_of("/pkg.Svc/Call", ProgrammingError("SELECT secret FROM t", {}, Exception()))
    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details.startswith("internal error (request id ")
    assert "SELECT" not in status.details
    # Like KFP, the details carry a google.rpc.Status (code UNKNOWN) with the message.
    (detail,) = trailer_status(status).details
    inner = status_pb2.Status()
    assert detail.Unpack(inner)
    assert (inner.code, inner.message) == (code_pb2.UNKNOWN, status.details)
    logged = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert len(logged) == 1 and logged[0].exc_info is not None
