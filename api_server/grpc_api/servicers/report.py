from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from api_server.grpc_api.generated import report_pb2 as pb
from api_server.grpc_api.generated import report_pb2_grpc
from domain.errors import Unimplemented

# The design defers ReportService to the persistence agent, which is what calls it.
NOT_YET = (
    "ReportService is not served yet: workflow reports arrive with the persistence agent,"
    " which is what sends them"
)


class ReportServicer(report_pb2_grpc.ReportServiceServicer):
    """Defined so clients and reflection see the whole v2beta1 surface; answers UNIMPLEMENTED."""

    def ReportWorkflow(self, request: pb.ReportWorkflowRequest, context: Any) -> empty_pb2.Empty:
        raise Unimplemented(NOT_YET)

    def ReportScheduledWorkflow(
        self, request: pb.ReportScheduledWorkflowRequest, context: Any
    ) -> empty_pb2.Empty:
        raise Unimplemented(NOT_YET)
