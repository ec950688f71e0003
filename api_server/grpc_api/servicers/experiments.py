from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from api_server.grpc_api.generated import experiment_pb2 as pb
from api_server.grpc_api.generated import experiment_pb2_grpc
from api_server.grpc_api.messages import list_query, set_time, text
from api_server.services import ExperimentService
from domain.resources import Experiment

EMPTY = empty_pb2.Empty()


def experiment_message(e: Experiment) -> pb.Experiment:
    message = pb.Experiment(
        experiment_id=e.experiment_id,
        display_name=e.display_name,
        description=e.description,
        namespace=e.namespace,
        storage_state=e.storage_state,
    )
    set_time(message.created_at, e.created_at)
    set_time(message.last_run_created_at, e.last_run_created_at)
    return message


class ExperimentServicer(experiment_pb2_grpc.ExperimentServiceServicer):
    def __init__(self, experiments: ExperimentService) -> None:
        self.experiments = experiments

    def CreateExperiment(self, request: pb.CreateExperimentRequest, context: Any) -> pb.Experiment:
        e = request.experiment
        created = self.experiments.create(e.display_name, text(e.description), text(e.namespace))
        return experiment_message(created)

    def GetExperiment(self, request: pb.GetExperimentRequest, context: Any) -> pb.Experiment:
        return experiment_message(self.experiments.get(request.experiment_id))

    def ListExperiments(
        self, request: pb.ListExperimentsRequest, context: Any
    ) -> pb.ListExperimentsResponse:
        page = self.experiments.list(list_query(request), text(request.namespace))
        return pb.ListExperimentsResponse(
            experiments=[experiment_message(e) for e in page.items],
            total_size=page.total_size,
            next_page_token=page.next_page_token,
        )

    def ArchiveExperiment(
        self, request: pb.ArchiveExperimentRequest, context: Any
    ) -> empty_pb2.Empty:
        self.experiments.archive(request.experiment_id)
        return EMPTY

    def UnarchiveExperiment(
        self, request: pb.UnarchiveExperimentRequest, context: Any
    ) -> empty_pb2.Empty:
        self.experiments.unarchive(request.experiment_id)
        return EMPTY

    def DeleteExperiment(
        self, request: pb.DeleteExperimentRequest, context: Any
    ) -> empty_pb2.Empty:
        self.experiments.delete(request.experiment_id)
        return EMPTY
