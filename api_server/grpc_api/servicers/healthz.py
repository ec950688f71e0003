from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2
from sqlalchemy import text

from api_server.grpc_api.generated import healthz_pb2 as pb
from api_server.grpc_api.generated import healthz_pb2_grpc
from api_server.storage import Database
from domain.errors import Unavailable


class HealthzServicer(healthz_pb2_grpc.HealthzServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    def GetHealthz(self, request: empty_pb2.Empty, context: Any) -> pb.GetHealthzResponse:
        """The REST healthz answer: a one-row database round trip, UNAVAILABLE without it."""
        try:
            with self.db.read() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:
            raise Unavailable("the database is unreachable") from exc
        return pb.GetHealthzResponse(multi_user=False, pipeline_store="database")
