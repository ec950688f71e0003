"""``ml_metadata.MetadataStoreService`` over gRPC: requests unwrapped, the store called.

Errors: the store's domain errors carry their gRPC code (InvalidArgument, NotFound,
AlreadyExists, FailedPrecondition, Unavailable); anything unexpected is logged and answered
INTERNAL without internals. RPCs of ML-Metadata that Headrace does not declare reach the gRPC
runtime's UNIMPLEMENTED.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from domain.errors import DomainError, NotFound

from .proto import metadata_store_pb2 as pb
from .proto import metadata_store_service_pb2 as svc
from .proto import metadata_store_service_pb2_grpc as svc_grpc
from .rows import ARTIFACT_TYPE, CONTEXT_TYPE, EXECUTION_TYPE
from .store import ARTIFACTS, CONTEXTS, EXECUTIONS, MetadataStore, NodeKind

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _rpc(method: F) -> F:
    """Map domain errors to their gRPC status; log the rest as INTERNAL."""

    @functools.wraps(method)
    def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except DomainError as exc:
            context.abort(grpc.StatusCode(_CODES[exc.grpc_code]), exc.message)
        except Exception:
            logger.exception("metadata store call failed", extra={"rpc": method.__name__})
            context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method.__name__}")

    return handler  # type: ignore[return-value]


_CODES = {code.value[0]: code.value for code in grpc.StatusCode}


def _options(request: Any, field: str = "options") -> pb.ListOperationOptions | None:
    return getattr(request, field) if request.HasField(field) else None


def _version(request: Any) -> str:
    return request.type_version if request.HasField("type_version") else ""


class MetadataStoreServicer(svc_grpc.MetadataStoreServiceServicer):
    """One method per RPC; each is a thin translation to :class:`MetadataStore`."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # -- types -------------------------------------------------------------------------
    def _put_type(self, kind: int, message: Any, request: Any) -> int:
        return self.store.put_type(
            kind,
            message,
            can_add_fields=request.can_add_fields,
            can_omit_fields=request.can_omit_fields,
        )

    @_rpc
    def PutArtifactType(self, request: Any, context: Any) -> Any:
        return svc.PutArtifactTypeResponse(
            type_id=self._put_type(ARTIFACT_TYPE, request.artifact_type, request)
        )

    @_rpc
    def PutExecutionType(self, request: Any, context: Any) -> Any:
        return svc.PutExecutionTypeResponse(
            type_id=self._put_type(EXECUTION_TYPE, request.execution_type, request)
        )

    @_rpc
    def PutContextType(self, request: Any, context: Any) -> Any:
        return svc.PutContextTypeResponse(
            type_id=self._put_type(CONTEXT_TYPE, request.context_type, request)
        )

    @_rpc
    def PutTypes(self, request: Any, context: Any) -> Any:
        types = [(ARTIFACT_TYPE, t) for t in request.artifact_types]
        types += [(EXECUTION_TYPE, t) for t in request.execution_types]
        types += [(CONTEXT_TYPE, t) for t in request.context_types]
        ids = self.store.put_types(
            types,
            can_add_fields=request.can_add_fields,
            can_omit_fields=request.can_omit_fields,
        )
        a, e = len(request.artifact_types), len(request.execution_types)
        return svc.PutTypesResponse(
            artifact_type_ids=ids[:a],
            execution_type_ids=ids[a : a + e],
            context_type_ids=ids[a + e :],
        )

    def _get_type(self, kind: int, request: Any) -> Any | None:
        return self.store.get_type(kind, request.type_name, _version(request))

    @_rpc
    def GetArtifactType(self, request: Any, context: Any) -> Any:
        return _found_type(
            svc.GetArtifactTypeResponse,
            "artifact_type",
            self._get_type(ARTIFACT_TYPE, request),
            request,
        )

    @_rpc
    def GetExecutionType(self, request: Any, context: Any) -> Any:
        return _found_type(
            svc.GetExecutionTypeResponse,
            "execution_type",
            self._get_type(EXECUTION_TYPE, request),
            request,
        )

    @_rpc
    def GetContextType(self, request: Any, context: Any) -> Any:
        return _found_type(
            svc.GetContextTypeResponse,
            "context_type",
            self._get_type(CONTEXT_TYPE, request),
            request,
        )

    @_rpc
    def GetArtifactTypes(self, request: Any, context: Any) -> Any:
        return svc.GetArtifactTypesResponse(artifact_types=self.store.get_types(ARTIFACT_TYPE))

    @_rpc
    def GetExecutionTypes(self, request: Any, context: Any) -> Any:
        return svc.GetExecutionTypesResponse(execution_types=self.store.get_types(EXECUTION_TYPE))

    @_rpc
    def GetContextTypes(self, request: Any, context: Any) -> Any:
        return svc.GetContextTypesResponse(context_types=self.store.get_types(CONTEXT_TYPE))

    @_rpc
    def GetArtifactTypesByID(self, request: Any, context: Any) -> Any:
        return svc.GetArtifactTypesByIDResponse(
            artifact_types=self.store.get_types_by_id(ARTIFACT_TYPE, request.type_ids)
        )

    @_rpc
    def GetExecutionTypesByID(self, request: Any, context: Any) -> Any:
        return svc.GetExecutionTypesByIDResponse(
            execution_types=self.store.get_types_by_id(EXECUTION_TYPE, request.type_ids)
        )

    @_rpc
    def GetContextTypesByID(self, request: Any, context: Any) -> Any:
        return svc.GetContextTypesByIDResponse(
            context_types=self.store.get_types_by_id(CONTEXT_TYPE, request.type_ids)
        )

    @_rpc
    def GetArtifactTypesByExternalIds(self, request: Any, context: Any) -> Any:
        return svc.GetArtifactTypesByExternalIdsResponse(
            artifact_types=self.store.get_types_by_external_id(ARTIFACT_TYPE, request.external_ids)
        )

    @_rpc
    def GetExecutionTypesByExternalIds(self, request: Any, context: Any) -> Any:
        return svc.GetExecutionTypesByExternalIdsResponse(
            execution_types=self.store.get_types_by_external_id(
                EXECUTION_TYPE, request.external_ids
            )
        )

    @_rpc
    def GetContextTypesByExternalIds(self, request: Any, context: Any) -> Any:
        return svc.GetContextTypesByExternalIdsResponse(
            context_types=self.store.get_types_by_external_id(CONTEXT_TYPE, request.external_ids)
        )

    # -- node writes -------------------------------------------------------------------
    @_rpc
    def PutArtifacts(self, request: Any, context: Any) -> Any:
        ids = self.store.put_nodes(
            ARTIFACTS,
            list(request.artifacts),
            mask=list(request.update_mask.paths),
            check_update_time=request.options.abort_if_latest_updated_time_changed,
        )
        return svc.PutArtifactsResponse(artifact_ids=ids)

    @_rpc
    def PutExecutions(self, request: Any, context: Any) -> Any:
        ids = self.store.put_nodes(
            EXECUTIONS, list(request.executions), mask=list(request.update_mask.paths)
        )
        return svc.PutExecutionsResponse(execution_ids=ids)

    @_rpc
    def PutContexts(self, request: Any, context: Any) -> Any:
        ids = self.store.put_nodes(
            CONTEXTS, list(request.contexts), mask=list(request.update_mask.paths)
        )
        return svc.PutContextsResponse(context_ids=ids)

    @_rpc
    def PutEvents(self, request: Any, context: Any) -> Any:
        self.store.put_events(list(request.events))
        return svc.PutEventsResponse()

    @_rpc
    def PutExecution(self, request: Any, context: Any) -> Any:
        execution_id, artifact_ids, context_ids = self.store.put_execution(request)
        return svc.PutExecutionResponse(
            execution_id=execution_id, artifact_ids=artifact_ids, context_ids=context_ids
        )

    @_rpc
    def PutLineageSubgraph(self, request: Any, context: Any) -> Any:
        execution_ids, artifact_ids, context_ids = self.store.put_lineage_subgraph(request)
        return svc.PutLineageSubgraphResponse(
            execution_ids=execution_ids, artifact_ids=artifact_ids, context_ids=context_ids
        )

    @_rpc
    def PutAttributionsAndAssociations(self, request: Any, context: Any) -> Any:
        self.store.put_attributions_and_associations(
            list(request.attributions), list(request.associations)
        )
        return svc.PutAttributionsAndAssociationsResponse()

    @_rpc
    def PutParentContexts(self, request: Any, context: Any) -> Any:
        self.store.put_parent_contexts(list(request.parent_contexts))
        return svc.PutParentContextsResponse()

    # -- node reads --------------------------------------------------------------------
    def _page(
        self, response: Any, field: str, kind: NodeKind, options: Any, condition: Any = None
    ) -> Any:
        page = self.store.list_nodes(kind, options, condition=condition)
        out = response()
        getattr(out, field).extend(page.items)
        if page.next_page_token:
            out.next_page_token = page.next_page_token
        return out

    @_rpc
    def GetArtifacts(self, request: Any, context: Any) -> Any:
        return self._page(svc.GetArtifactsResponse, "artifacts", ARTIFACTS, _options(request))

    @_rpc
    def GetExecutions(self, request: Any, context: Any) -> Any:
        return self._page(svc.GetExecutionsResponse, "executions", EXECUTIONS, _options(request))

    @_rpc
    def GetContexts(self, request: Any, context: Any) -> Any:
        return self._page(svc.GetContextsResponse, "contexts", CONTEXTS, _options(request))

    @_rpc
    def GetArtifactsByType(self, request: Any, context: Any) -> Any:
        condition = self.store.type_condition(ARTIFACTS, request.type_name, _version(request))
        return self._page(
            svc.GetArtifactsByTypeResponse, "artifacts", ARTIFACTS, _options(request), condition
        )

    @_rpc
    def GetExecutionsByType(self, request: Any, context: Any) -> Any:
        condition = self.store.type_condition(EXECUTIONS, request.type_name, _version(request))
        return self._page(
            svc.GetExecutionsByTypeResponse, "executions", EXECUTIONS, _options(request), condition
        )

    @_rpc
    def GetContextsByType(self, request: Any, context: Any) -> Any:
        condition = self.store.type_condition(CONTEXTS, request.type_name, _version(request))
        return self._page(
            svc.GetContextsByTypeResponse, "contexts", CONTEXTS, _options(request), condition
        )

    @_rpc
    def GetArtifactsByContext(self, request: Any, context: Any) -> Any:
        condition = self.store.context_condition(ARTIFACTS, request.context_id)
        return self._page(
            svc.GetArtifactsByContextResponse, "artifacts", ARTIFACTS, _options(request), condition
        )

    @_rpc
    def GetExecutionsByContext(self, request: Any, context: Any) -> Any:
        condition = self.store.context_condition(EXECUTIONS, request.context_id)
        return self._page(
            svc.GetExecutionsByContextResponse,
            "executions",
            EXECUTIONS,
            _options(request),
            condition,
        )

    @_rpc
    def GetArtifactsByID(self, request: Any, context: Any) -> Any:
        artifacts = self.store.get_nodes_by_id(ARTIFACTS, request.artifact_ids)
        response = svc.GetArtifactsByIDResponse(artifacts=artifacts)
        if request.populate_artifact_types:
            response.artifact_types.extend(
                self.store.get_types_by_id(ARTIFACT_TYPE, sorted({a.type_id for a in artifacts}))
            )
        return response

    @_rpc
    def GetExecutionsByID(self, request: Any, context: Any) -> Any:
        return svc.GetExecutionsByIDResponse(
            executions=self.store.get_nodes_by_id(EXECUTIONS, request.execution_ids)
        )

    @_rpc
    def GetContextsByID(self, request: Any, context: Any) -> Any:
        return svc.GetContextsByIDResponse(
            contexts=self.store.get_nodes_by_id(CONTEXTS, request.context_ids)
        )

    @_rpc
    def GetArtifactByTypeAndName(self, request: Any, context: Any) -> Any:
        found = self.store.get_node_by_type_and_name(
            ARTIFACTS, request.type_name, _version(request), request.artifact_name
        )
        return svc.GetArtifactByTypeAndNameResponse(artifact=found)

    @_rpc
    def GetExecutionByTypeAndName(self, request: Any, context: Any) -> Any:
        found = self.store.get_node_by_type_and_name(
            EXECUTIONS, request.type_name, _version(request), request.execution_name
        )
        return svc.GetExecutionByTypeAndNameResponse(execution=found)

    @_rpc
    def GetContextByTypeAndName(self, request: Any, context: Any) -> Any:
        found = self.store.get_node_by_type_and_name(
            CONTEXTS, request.type_name, _version(request), request.context_name
        )
        return svc.GetContextByTypeAndNameResponse(context=found)

    @_rpc
    def GetArtifactsByURI(self, request: Any, context: Any) -> Any:
        return svc.GetArtifactsByURIResponse(
            artifacts=self.store.get_artifacts_by_uri(list(request.uris))
        )

    @_rpc
    def GetArtifactsByExternalIds(self, request: Any, context: Any) -> Any:
        return svc.GetArtifactsByExternalIdsResponse(
            artifacts=self.store.get_nodes_by_external_ids(ARTIFACTS, list(request.external_ids))
        )

    @_rpc
    def GetExecutionsByExternalIds(self, request: Any, context: Any) -> Any:
        return svc.GetExecutionsByExternalIdsResponse(
            executions=self.store.get_nodes_by_external_ids(EXECUTIONS, list(request.external_ids))
        )

    @_rpc
    def GetContextsByExternalIds(self, request: Any, context: Any) -> Any:
        return svc.GetContextsByExternalIdsResponse(
            contexts=self.store.get_nodes_by_external_ids(CONTEXTS, list(request.external_ids))
        )

    # -- events, links, lineage -----------------------------------------------------------
    @_rpc
    def GetEventsByArtifactIDs(self, request: Any, context: Any) -> Any:
        return svc.GetEventsByArtifactIDsResponse(
            events=self.store.get_events(artifact_ids=list(request.artifact_ids))
        )

    @_rpc
    def GetEventsByExecutionIDs(self, request: Any, context: Any) -> Any:
        return svc.GetEventsByExecutionIDsResponse(
            events=self.store.get_events(execution_ids=list(request.execution_ids))
        )

    @_rpc
    def GetContextsByArtifact(self, request: Any, context: Any) -> Any:
        return svc.GetContextsByArtifactResponse(
            contexts=self.store.get_contexts_of(ARTIFACTS, request.artifact_id)
        )

    @_rpc
    def GetContextsByExecution(self, request: Any, context: Any) -> Any:
        return svc.GetContextsByExecutionResponse(
            contexts=self.store.get_contexts_of(EXECUTIONS, request.execution_id)
        )

    @_rpc
    def GetParentContextsByContext(self, request: Any, context: Any) -> Any:
        found = self.store.get_parent_contexts([request.context_id])
        return svc.GetParentContextsByContextResponse(contexts=found.get(request.context_id, []))

    @_rpc
    def GetChildrenContextsByContext(self, request: Any, context: Any) -> Any:
        found = self.store.get_children_contexts([request.context_id])
        return svc.GetChildrenContextsByContextResponse(contexts=found.get(request.context_id, []))

    @_rpc
    def GetParentContextsByContexts(self, request: Any, context: Any) -> Any:
        response = svc.GetParentContextsByContextsResponse()
        for child, parents in self.store.get_parent_contexts(list(request.context_ids)).items():
            response.contexts[child].parent_contexts.extend(parents)
        return response

    @_rpc
    def GetChildrenContextsByContexts(self, request: Any, context: Any) -> Any:
        response = svc.GetChildrenContextsByContextsResponse()
        for parent, children in self.store.get_children_contexts(list(request.context_ids)).items():
            response.contexts[parent].children_contexts.extend(children)
        return response

    @_rpc
    def GetLineageGraph(self, request: Any, context: Any) -> Any:
        return svc.GetLineageGraphResponse(subgraph=self.store.get_lineage_graph(request.options))

    @_rpc
    def GetLineageSubgraph(self, request: Any, context: Any) -> Any:
        graph = self.store.get_lineage_subgraph(
            request.lineage_subgraph_query_options, list(request.read_mask.paths)
        )
        return svc.GetLineageSubgraphResponse(lineage_subgraph=graph)


def _found_type(response: Any, field: str, found: Any | None, request: Any) -> Any:
    """ML-Metadata answers NOT_FOUND for a type lookup by a name it does not know."""
    if found is None:
        version = f" version {request.type_version!r}" if request.type_version else ""
        raise NotFound(f"no {field.replace('_', ' ')} named {request.type_name!r}{version}")
    return response(**{field: found})


@dataclass
class RunningServer:
    """A started gRPC server, the port it bound and the store it serves (for wiring a
    ``LineageRecorder`` to the same store)."""

    server: grpc.Server
    port: int
    store: MetadataStore

    def stop(self, grace: float | None = 2.0) -> None:
        self.server.stop(grace).wait()


def start_server(
    store: MetadataStore, *, host: str = "127.0.0.1", port: int = 8080, max_workers: int = 16
) -> RunningServer:
    """Serve ``store`` on ``host:port`` (0 picks a free port) and return once listening."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="mlmd-grpc"),
        options=[
            ("grpc.max_receive_message_length", 256 * 1024 * 1024),
            ("grpc.max_send_message_length", 256 * 1024 * 1024),
        ],
    )
    svc_grpc.add_MetadataStoreServiceServicer_to_server(MetadataStoreServicer(store), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"could not bind the metadata store's gRPC port {address}")
    server.start()
    logger.info("metadata store listening", extra={"host": host, "port": bound, "protocol": "grpc"})
    return RunningServer(server, bound, store)
