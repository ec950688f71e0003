"""The metadata store against real databases: types, node writes and updates, events, links,
atomic composite writes, paging and filters, lineage walks and concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from api_server.storage import Database, build_engine
from domain.errors import AlreadyExists, InvalidArgument, NotFound
from metadata_store import MetadataStore
from metadata_store.proto import metadata_store_pb2 as pb
from metadata_store.proto import metadata_store_service_pb2 as svc
from metadata_store.rows import ARTIFACT_TYPE, CONTEXT_TYPE, EXECUTION_TYPE
from metadata_store.store import ARTIFACTS, CONTEXTS, EXECUTIONS

Options = pb.ListOperationOptions


@pytest.fixture
def types(metadata: MetadataStore) -> dict[str, int]:
    return {
        "dataset": metadata.put_type(
            ARTIFACT_TYPE, pb.ArtifactType(name="Dataset", properties={"rows": pb.INT})
        ),
        "step": metadata.put_type(EXECUTION_TYPE, pb.ExecutionType(name="Step")),
        "run": metadata.put_type(CONTEXT_TYPE, pb.ContextType(name="Run")),
    }


def _artifact(type_id: int, uri: str, **props: int) -> pb.Artifact:
    artifact = pb.Artifact(type_id=type_id, uri=uri)
    for name, value in props.items():
        artifact.properties[name].int_value = value
    return artifact


def _event(kind: int, artifact_id: int, execution_id: int) -> pb.Event:
    return pb.Event(type=kind, artifact_id=artifact_id, execution_id=execution_id)  # type: ignore[arg-type]


def test_types_refuse_changed_properties_unless_allowed(metadata: MetadataStore) -> None:
    first = metadata.put_type(ARTIFACT_TYPE, pb.ArtifactType(name="T", properties={"a": pb.INT}))
    with pytest.raises(AlreadyExists, match="another data type"):
        metadata.put_type(ARTIFACT_TYPE, pb.ArtifactType(name="T", properties={"a": pb.STRING}))
    with pytest.raises(AlreadyExists, match="omits"):
        metadata.put_type(ARTIFACT_TYPE, pb.ArtifactType(name="T"))
    assert (
        metadata.put_type(ARTIFACT_TYPE, pb.ArtifactType(name="T"), can_omit_fields=True) == first
    )
    wider = pb.ArtifactType(name="T", properties={"a": pb.INT, "b": pb.BOOLEAN})
    assert metadata.put_type(ARTIFACT_TYPE, wider, can_add_fields=True) == first
    stored = metadata.get_type(ARTIFACT_TYPE, "T")
    assert dict(stored.properties) == {"a": pb.INT, "b": pb.BOOLEAN}
    # A version makes another type; the same name may be an execution type too.
    assert metadata.put_type(ARTIFACT_TYPE, pb.ArtifactType(name="T", version="2")) != first
    assert metadata.put_type(EXECUTION_TYPE, pb.ExecutionType(name="T")) != first
    with pytest.raises(InvalidArgument, match="type name"):
        metadata.put_type(CONTEXT_TYPE, pb.ContextType())


def test_execution_type_keeps_its_artifact_structs(metadata: MetadataStore) -> None:
    step = pb.ExecutionType(name="Typed", base_type=pb.ExecutionType.TRAIN)
    step.input_type.simple.name = "Dataset"
    step.output_type.none.SetInParent()
    type_id = metadata.put_type(EXECUTION_TYPE, step)
    [stored] = metadata.get_types_by_id(EXECUTION_TYPE, [type_id])
    assert stored.input_type.simple.name == "Dataset"
    assert stored.output_type.HasField("none")
    assert stored.base_type == pb.ExecutionType.TRAIN


def test_bulk_put_returns_ids_in_order_and_reads_back_every_value_kind(
    metadata: MetadataStore, types: dict[str, int]
) -> None:
    many = [_artifact(types["dataset"], f"/d/{i}", rows=i) for i in range(250)]
    many[7].custom_properties["s"].struct_value.update({"k": [1, "x"]})
    many[7].custom_properties["p"].proto_value.Pack(pb.Value(string_value="packed"))
    many[7].custom_properties["b"].bool_value = False
    many[7].custom_properties["d"].double_value = -1.5
    ids = metadata.put_nodes(ARTIFACTS, many)
    assert len(set(ids)) == 250
    loaded = metadata.get_nodes_by_id(ARTIFACTS, list(reversed(ids)))
    assert [a.uri for a in loaded] == [f"/d/{i}" for i in reversed(range(250))]
    seventh = loaded[-8]
    assert seventh.properties["rows"].int_value == 7
    assert seventh.custom_properties["s"].struct_value["k"][1] == "x"
    unpacked = pb.Value()
    assert seventh.custom_properties["p"].proto_value.Unpack(unpacked)
    assert unpacked.string_value == "packed"
    assert seventh.custom_properties["b"].HasField("bool_value")
    assert seventh.custom_properties["d"].double_value == -1.5
    assert seventh.type == "Dataset"


def test_invalid_nodes_are_refused_and_nothing_is_written(
    metadata: MetadataStore, types: dict[str, int]
) -> None:
    good = _artifact(types["dataset"], "/ok", rows=1)
    wrong_kind = pb.Artifact(type_id=types["dataset"])
    wrong_kind.properties["rows"].string_value = "many"
    with pytest.raises(InvalidArgument, match=r"artifacts\[1\]: property 'rows' must be INT"):
        metadata.put_nodes(ARTIFACTS, [good, wrong_kind])
    with pytest.raises(InvalidArgument, match="not an artifact type"):
        metadata.put_nodes(ARTIFACTS, [pb.Artifact(type_id=types["step"])])
    with pytest.raises(InvalidArgument, match="type_id must be set"):
        metadata.put_nodes(ARTIFACTS, [pb.Artifact(uri="/x")])
    with pytest.raises(InvalidArgument, match="needs a name"):
        metadata.put_nodes(CONTEXTS, [pb.Context(type_id=types["run"])])
    with pytest.raises(NotFound, match="no execution with id 999"):
        metadata.put_nodes(EXECUTIONS, [pb.Execution(id=999)])
    assert metadata.list_nodes(ARTIFACTS, None).items == []


def test_updates_replace_the_node_or_only_the_masked_fields(
    metadata: MetadataStore, types: dict[str, int]
) -> None:
    artifact = _artifact(types["dataset"], "/v1", rows=1)
    artifact.custom_properties["keep"].string_value = "k"
    [artifact_id] = metadata.put_nodes(ARTIFACTS, [artifact])
    [created] = metadata.get_nodes_by_id(ARTIFACTS, [artifact_id])

    masked = pb.Artifact(id=artifact_id, uri="/ignored", state=pb.Artifact.LIVE)
    masked.properties["rows"].int_value = 2
    metadata.put_nodes(ARTIFACTS, [masked], mask=["state", "properties.rows"])
    [after_mask] = metadata.get_nodes_by_id(ARTIFACTS, [artifact_id])
    assert (after_mask.uri, after_mask.state) == ("/v1", pb.Artifact.LIVE)
    assert after_mask.properties["rows"].int_value == 2
    assert after_mask.custom_properties["keep"].string_value == "k"
    assert after_mask.create_time_since_epoch == created.create_time_since_epoch

    whole = pb.Artifact(id=artifact_id, type_id=types["dataset"], uri="/v3")
    metadata.put_nodes(ARTIFACTS, [whole])
    [replaced] = metadata.get_nodes_by_id(ARTIFACTS, [artifact_id])
    assert replaced.uri == "/v3"
    assert dict(replaced.properties) == {} and dict(replaced.custom_properties) == {}
    with pytest.raises(InvalidArgument, match="cannot change"):
        metadata.put_nodes(ARTIFACTS, [pb.Artifact(id=artifact_id, type_id=types["step"])])
    with pytest.raises(InvalidArgument, match="unknown artifact fields"):
        metadata.put_nodes(ARTIFACTS, [pb.Artifact(id=artifact_id)], mask=["colour"])


def test_events_need_stored_nodes_and_are_unique(
    metadata: MetadataStore, types: dict[str, int]
) -> None:
    [artifact_id] = metadata.put_nodes(ARTIFACTS, [_artifact(types["dataset"], "/a")])
    [execution_id] = metadata.put_nodes(EXECUTIONS, [pb.Execution(type_id=types["step"])])
    event = _event(pb.Event.INPUT, artifact_id, execution_id)
    event.path.steps.add().key = "examples"
    event.path.steps.add().index = 2
    metadata.put_events([event])
    with pytest.raises(AlreadyExists, match="INPUT"):
        metadata.put_events([_event(pb.Event.INPUT, artifact_id, execution_id)])
    with pytest.raises(InvalidArgument, match="no artifact with id"):
        metadata.put_events([_event(pb.Event.OUTPUT, artifact_id + 100, execution_id)])
    with pytest.raises(InvalidArgument, match="type must be set"):
        metadata.put_events([pb.Event(artifact_id=artifact_id, execution_id=execution_id)])
    [stored] = metadata.get_events(execution_ids=[execution_id])
    assert [s.key or s.index for s in stored.path.steps] == ["examples", 2]
    # An event without a time gets the time it was stored (ML-Metadata does the same).
    assert stored.HasField("milliseconds_since_epoch")
    assert stored.milliseconds_since_epoch != 0


def test_put_execution_is_atomic(metadata: MetadataStore, types: dict[str, int]) -> None:
    request = svc.PutExecutionRequest(execution=pb.Execution(type_id=types["step"]))
    request.artifact_event_pairs.add(
        artifact=_artifact(types["dataset"], "/in"), event=pb.Event(type=pb.Event.INPUT)
    )
    # The second pair names an event whose artifact id contradicts its artifact.
    request.artifact_event_pairs.add(
        artifact=_artifact(types["dataset"], "/out"),
        event=pb.Event(type=pb.Event.OUTPUT, artifact_id=424242),
    )
    request.contexts.add(type_id=types["run"], name="r")
    with pytest.raises(InvalidArgument, match=r"artifact_event_pairs\[1\]"):
        metadata.put_execution(request)
    assert metadata.list_nodes(EXECUTIONS, None).items == []
    assert metadata.list_nodes(ARTIFACTS, None).items == []
    assert metadata.list_nodes(CONTEXTS, None).items == []

    request.artifact_event_pairs[1].event.ClearField("artifact_id")
    execution_id, artifact_ids, context_ids = metadata.put_execution(request)
    events = metadata.get_events(execution_ids=[execution_id])
    assert sorted((e.artifact_id, e.type) for e in events) == [
        (artifact_ids[0], pb.Event.INPUT),
        (artifact_ids[1], pb.Event.OUTPUT),
    ]
    assert [c.name for c in metadata.get_contexts_of(EXECUTIONS, execution_id)] == ["r"]
    with pytest.raises(AlreadyExists):  # the context exists and reuse was not asked for
        metadata.put_execution(request)
    request.options.reuse_context_if_already_exist = True
    request.execution.ClearField("id")
    assert metadata.put_execution(request)[2] == context_ids


def test_put_lineage_subgraph_links_by_index(
    metadata: MetadataStore, types: dict[str, int]
) -> None:
    request = svc.PutLineageSubgraphRequest()
    request.executions.add(type_id=types["step"])
    request.artifacts.add(type_id=types["dataset"], uri="/a", external_id="ext-a")
    request.contexts.add(type_id=types["run"], name="r")
    request.event_edges.add(
        execution_index=0, artifact_index=0, event=pb.Event(type=pb.Event.OUTPUT)
    )
    execution_ids, artifact_ids, context_ids = metadata.put_lineage_subgraph(request)
    bad = svc.PutLineageSubgraphRequest()
    bad.event_edges.add(execution_index=3, artifact_index=0, event=pb.Event(type=pb.Event.OUTPUT))
    with pytest.raises(InvalidArgument, match="out of range"):
        metadata.put_lineage_subgraph(bad)
    again = svc.PutLineageSubgraphRequest()
    again.artifacts.add(type_id=types["dataset"], uri="/a2", external_id="ext-a")
    again.options.reuse_artifact_if_already_exist_by_external_id = True
    assert metadata.put_lineage_subgraph(again)[1] == artifact_ids
    assert [a.id for a in metadata.get_nodes_by_external_ids(ARTIFACTS, ["ext-a"])] == artifact_ids
    [linked] = metadata.list_nodes(
        ARTIFACTS, None, condition=metadata.context_condition(ARTIFACTS, context_ids[0])
    ).items
    assert linked.uri == "/a2"
    assert metadata.get_events(artifact_ids=artifact_ids)[0].execution_id == execution_ids[0]


def test_paging_walks_every_node_once_in_each_order(
    metadata: MetadataStore, types: dict[str, int]
) -> None:
    ids = metadata.put_nodes(ARTIFACTS, [_artifact(types["dataset"], f"/p/{i}") for i in range(23)])
    for field in (
        Options.OrderByField.ID,
        Options.OrderByField.CREATE_TIME,
        Options.OrderByField.LAST_UPDATE_TIME,
    ):
        for ascending in (True, False):
            options = Options(max_result_size=5)
            options.order_by_field.field = field
            options.order_by_field.is_asc = ascending
            seen: list[int] = []
            while True:
                page = metadata.list_nodes(ARTIFACTS, options)
                assert len(page.items) <= 5
                seen += [a.id for a in page.items]
                if not page.next_page_token:
                    break
                options.next_page_token = page.next_page_token
            assert sorted(seen) == sorted(ids) and len(seen) == 23
            if field == Options.OrderByField.ID:
                assert seen == sorted(ids, reverse=not ascending)
    first = metadata.list_nodes(ARTIFACTS, Options(max_result_size=5))
    other = Options(
        max_result_size=5, filter_query="uri LIKE '/p/%'", next_page_token=first.next_page_token
    )
    with pytest.raises(InvalidArgument, match="another order_by_field or filter_query"):
        metadata.list_nodes(ARTIFACTS, other)
    with pytest.raises(InvalidArgument, match="not a token"):
        metadata.list_nodes(ARTIFACTS, Options(next_page_token="garbage!"))
    with pytest.raises(InvalidArgument, match="max_result_size"):
        metadata.list_nodes(ARTIFACTS, Options(max_result_size=0))
    assert len(metadata.list_nodes(ARTIFACTS, Options(max_result_size=1000)).items) == 23


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("properties.rows.int_value > 7", ["/f/8", "/f/9"]),
        ("properties.rows.int_value IN (1, 3) OR uri = '/f/9'", ["/f/1", "/f/3", "/f/9"]),
        ("NOT (properties.rows.int_value >= 2) AND type = 'Dataset'", ["/f/0", "/f/1"]),
        (
            "custom_properties.tag.string_value = 'even' AND properties.rows.int_value < 4",
            ["/f/0", "/f/2"],
        ),
        ("contexts_a.name = 'evens' AND contexts_b.name = 'small'", ["/f/0", "/f/2"]),
        ("contexts_a.name = 'evens' AND contexts_a.name = 'small'", []),
        ("create_time_since_epoch > 0 AND external_id IS NULL AND state = LIVE", ["/f/9"]),
        ("name LIKE 'n-%' AND id > 0", ["/f/5"]),
    ],
)
def test_filter_queries(
    metadata: MetadataStore, types: dict[str, int], query: str, expected: list[str]
) -> None:
    artifacts = []
    for i in range(10):
        artifact = _artifact(types["dataset"], f"/f/{i}", rows=i)
        artifact.custom_properties["tag"].string_value = "even" if i % 2 == 0 else "odd"
        artifacts.append(artifact)
    artifacts[5].name = "n-5"
    artifacts[9].state = pb.Artifact.LIVE
    ids = metadata.put_nodes(ARTIFACTS, artifacts)
    evens, small = metadata.put_nodes(
        CONTEXTS,
        [
            pb.Context(type_id=types["run"], name="evens"),
            pb.Context(type_id=types["run"], name="small"),
        ],
    )
    metadata.put_attributions_and_associations(
        [pb.Attribution(context_id=evens, artifact_id=ids[i]) for i in range(0, 10, 2)]
        + [pb.Attribution(context_id=small, artifact_id=ids[i]) for i in range(3)],
        [],
    )
    found = metadata.list_nodes(ARTIFACTS, Options(max_result_size=100, filter_query=query))
    assert sorted(a.uri for a in found.items) == expected


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("uri ===", "expected a value"),
        ("colour = 'red'", "unsupported attribute 'colour'"),
        ("properties.rows = 1", "expected properties.<name>"),
        ("state = SHINY", "unknown state SHINY"),
        ("(uri = 'a'", r"expected '\)'"),
        ("uri = 'a' extra", "unexpected token"),
        ("parent_contexts_a.name = 'x'", "unsupported field"),
    ],
)
def test_unsupported_filters_are_refused(metadata: MetadataStore, query: str, problem: str) -> None:
    with pytest.raises(InvalidArgument, match=problem):
        metadata.list_nodes(ARTIFACTS, Options(filter_query=query))


def _chain(
    metadata: MetadataStore, types: dict[str, int], length: int
) -> tuple[list[int], list[int]]:
    """a0 -> e0 -> a1 -> e1 -> ... -> a<length>: each execution reads a_i and writes a_i+1."""
    artifact_ids = metadata.put_nodes(
        ARTIFACTS, [_artifact(types["dataset"], f"/chain/{i}") for i in range(length + 1)]
    )
    execution_ids = metadata.put_nodes(
        EXECUTIONS, [pb.Execution(type_id=types["step"], name=f"e{i}") for i in range(length)]
    )
    events = []
    for i, execution_id in enumerate(execution_ids):
        events.append(_event(pb.Event.INPUT, artifact_ids[i], execution_id))
        events.append(_event(pb.Event.OUTPUT, artifact_ids[i + 1], execution_id))
    metadata.put_events(events)
    return artifact_ids, execution_ids


def _subgraph(metadata: MetadataStore, **options: Any) -> list[str]:
    query = pb.LineageSubgraphQueryOptions(**options)
    graph = metadata.get_lineage_subgraph(query)
    return sorted([a.uri for a in graph.artifacts] + [e.name for e in graph.executions])


def test_lineage_subgraph_follows_direction_hops_and_ending_nodes(
    metadata: MetadataStore, types: dict[str, int]
) -> None:
    _chain(metadata, types, 4)
    start = pb.LineageSubgraphQueryOptions.StartingNodes(filter_query="uri = '/chain/2'")
    up = pb.LineageSubgraphQueryOptions.UPSTREAM
    down = pb.LineageSubgraphQueryOptions.DOWNSTREAM
    assert _subgraph(metadata, starting_artifacts=start, max_num_hops=2, direction=up) == [
        "/chain/1",
        "/chain/2",
        "e1",
    ]
    assert _subgraph(metadata, starting_artifacts=start, max_num_hops=1, direction=down) == [
        "/chain/2",
        "e2",
    ]
    assert len(_subgraph(metadata, starting_artifacts=start, max_num_hops=10)) == 9
    ending = pb.LineageSubgraphQueryOptions.EndingNodes(filter_query="name = 'e3'")
    assert _subgraph(
        metadata,
        starting_artifacts=start,
        max_num_hops=10,
        direction=down,
        ending_executions=ending,
    ) == ["/chain/2", "/chain/3", "e2"]
    ending.include_ending_nodes = True
    assert "e3" in _subgraph(
        metadata,
        starting_artifacts=start,
        max_num_hops=10,
        direction=down,
        ending_executions=ending,
    )
    from_execution = pb.LineageSubgraphQueryOptions.StartingNodes(filter_query="name = 'e0'")
    assert _subgraph(metadata, starting_executions=from_execution, max_num_hops=1) == [
        "/chain/0",
        "/chain/1",
        "e0",
    ]
    graph = metadata.get_lineage_subgraph(
        pb.LineageSubgraphQueryOptions(starting_artifacts=start, max_num_hops=1),
        read_mask=["events", "artifacts"],
    )
    # Executions are walked (their events are kept) but left out of the answer.
    assert (len(graph.artifacts), len(graph.executions), len(graph.events)) == (1, 0, 2)
    with pytest.raises(InvalidArgument, match="starting_artifacts or starting_executions"):
        metadata.get_lineage_subgraph(pb.LineageSubgraphQueryOptions())
    with pytest.raises(InvalidArgument, match="unknown LineageGraph fields"):
        metadata.get_lineage_subgraph(
            pb.LineageSubgraphQueryOptions(starting_artifacts=start), read_mask=["nodes"]
        )
    legacy = pb.LineageGraphQueryOptions(max_node_size=3)
    legacy.artifacts_options.filter_query = "uri = '/chain/0'"
    assert (
        len(metadata.get_lineage_graph(legacy).artifacts)
        + len(metadata.get_lineage_graph(legacy).executions)
        == 3
    )


def test_parent_contexts_refuse_cycles_and_duplicates(
    metadata: MetadataStore, types: dict[str, int]
) -> None:
    a, b, c = metadata.put_nodes(
        CONTEXTS, [pb.Context(type_id=types["run"], name=n) for n in "abc"]
    )
    metadata.put_parent_contexts(
        [pb.ParentContext(child_id=b, parent_id=a), pb.ParentContext(child_id=c, parent_id=b)]
    )
    with pytest.raises(InvalidArgument, match="cycle"):
        metadata.put_parent_contexts([pb.ParentContext(child_id=a, parent_id=c)])
    with pytest.raises(AlreadyExists):
        metadata.put_parent_contexts([pb.ParentContext(child_id=b, parent_id=a)])
    with pytest.raises(InvalidArgument, match="own parent"):
        metadata.put_parent_contexts([pb.ParentContext(child_id=a, parent_id=a)])
    assert [x.name for x in metadata.get_children_contexts([a])[a]] == ["b"]
    assert [x.name for x in metadata.get_parent_contexts([c])[c]] == ["b"]


def _in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_concurrent_writers_share_types_and_contexts(
    database_url: str, metadata: MetadataStore
) -> None:
    # Every writer has its own engine and pool, as separate server processes would.
    stores = [MetadataStore(Database(build_engine(database_url))) for _ in range(4)]

    def work(index: int) -> tuple[int, int]:
        store = stores[index]
        type_id = store.put_type(EXECUTION_TYPE, pb.ExecutionType(name="Racing"))
        run_type = store.put_type(CONTEXT_TYPE, pb.ContextType(name="RacingRun"))
        artifact_type = store.put_type(ARTIFACT_TYPE, pb.ArtifactType(name="RacingData"))
        context_id = 0
        for i in range(5):
            request = svc.PutExecutionRequest(execution=pb.Execution(type_id=type_id))
            request.artifact_event_pairs.add(
                artifact=pb.Artifact(type_id=artifact_type, uri=f"/w{index}/{i}"),
                event=pb.Event(type=pb.Event.OUTPUT),
            )
            request.contexts.add(type_id=run_type, name="shared")
            request.options.reuse_context_if_already_exist = True
            _, _, [context_id] = store.put_execution(request)
        return type_id, context_id

    try:
        results = _in_threads(4, work)
    finally:
        for store in stores:
            store.db.dispose()  # type: ignore[attr-defined]
    assert len(set(results)) == 1
    context_id = results[0][1]
    executions = metadata.list_nodes(
        EXECUTIONS, None, condition=metadata.context_condition(EXECUTIONS, context_id)
    ).items
    assert len(executions) == 20
    assert len(metadata.get_events(execution_ids=[e.id for e in executions])) == 20
