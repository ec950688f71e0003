"""LineageRecorder: what the embedded engine records per run and task, and that repeating a
call (a retry, a resumed run) changes nothing."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from lineage_inputs import kfp_artifact

from api_server.storage import Database, build_engine
from domain.errors import FailedPrecondition, InvalidArgument
from metadata_store import LineageRecorder, MetadataStore, TaskLineage
from metadata_store.store import ARTIFACTS, CONTEXTS, EXECUTIONS


def _count(metadata: MetadataStore) -> tuple[int, int, int, int]:
    executions = metadata.list_nodes(EXECUTIONS, None).items
    return (
        len(metadata.list_nodes(CONTEXTS, None).items),
        len(executions),
        len(metadata.list_nodes(ARTIFACTS, None).items),
        len(metadata.get_events(execution_ids=[e.id for e in executions])),
    )


def test_recording_twice_updates_in_place(metadata: MetadataStore) -> None:
    recorder = LineageRecorder(metadata)
    recorder.start_run("r1", "pipe", "first run")
    recorder.start_run("r1", "pipe", "first run")  # a resumed run starts again
    task = TaskLineage(
        task_id="producer",
        task_name="make-data",
        display_name="Make data",
        state="RUNNING",
        cache_fingerprint="abc123",
        input_parameters={"n": 3, "label": "x", "cfg": {"a": 1}, "xs": [1, 2]},
        input_artifacts={"seed": [kfp_artifact("s3://bucket/seed.csv")]},
        output_artifacts={"data": [kfp_artifact("/root/r1/data", metadata={"rows": 3})]},
    )
    first = recorder.record_task("r1", task)
    before = _count(metadata)
    done = TaskLineage(**{**task.__dict__, "state": "COMPLETE"})
    second = recorder.record_task("r1", done)
    assert second == first
    assert _count(metadata) == before == (2, 1, 2, 2)

    [execution] = metadata.get_nodes_by_id(EXECUTIONS, [first.execution_id])
    custom = execution.custom_properties
    assert execution.type == "system.ContainerExecution"
    assert execution.last_known_state == execution.COMPLETE
    assert custom["task_name"].string_value == "make-data"
    assert custom["display_name"].string_value == "Make data"
    assert custom["cache_fingerprint"].string_value == "abc123"
    assert custom["inputs"].struct_value["cfg"]["a"] == 1
    [data] = metadata.get_nodes_by_id(ARTIFACTS, first.artifact_ids["data"])
    assert (data.uri, data.type) == ("/root/r1/data", "system.Dataset")
    assert data.custom_properties["rows"].int_value == 3

    lineage = recorder.lineage_of_run("r1")
    assert [e["task_name"] for e in lineage["executions"]] == ["make-data"]
    assert lineage["executions"][0]["inputs"] == {"seed": first.input_artifact_ids["seed"]}
    assert lineage["executions"][0]["outputs"] == {"data": first.artifact_ids["data"]}
    assert len(lineage["pipeline_context_ids"]) == 1


def test_a_cache_hit_links_the_reused_execution_and_outputs(metadata: MetadataStore) -> None:
    recorder = LineageRecorder(metadata)
    recorder.start_run("r1", "pipe", "first")
    original = recorder.record_task(
        "r1",
        TaskLineage(
            task_id="train",
            task_name="train",
            state="COMPLETE",
            output_artifacts={"model": [kfp_artifact("/root/r1/model", "system.Model")]},
        ),
    )
    recorder.start_run("r2", "pipe", "second")
    [model_id] = original.artifact_ids["model"]
    cached = recorder.record_task(
        "r2",
        TaskLineage(
            task_id="train",
            task_name="train",
            state="CACHED",
            cached_from_execution_id=original.execution_id,
            output_artifacts={
                "model": [kfp_artifact("/root/r1/model", "system.Model", artifact_id=model_id)]
            },
        ),
    )
    assert cached.execution_id != original.execution_id
    assert cached.artifact_ids == {"model": [model_id]}
    [execution] = metadata.get_nodes_by_id(EXECUTIONS, [cached.execution_id])
    assert execution.last_known_state == execution.CACHED
    assert execution.custom_properties["cached_execution_id"].int_value == original.execution_id
    runs = sorted(c.name for c in metadata.get_contexts_of(ARTIFACTS, model_id))
    assert runs == ["r1", "r2"]
    # Both runs share the pipeline context.
    assert len(metadata.list_nodes(CONTEXTS, None).items) == 3


def test_an_input_found_by_uri_is_reused(metadata: MetadataStore) -> None:
    recorder = LineageRecorder(metadata)
    recorder.start_run("r1", "pipe", "run")
    made = recorder.record_task(
        "r1",
        TaskLineage(
            task_id="a",
            task_name="a",
            state="COMPLETE",
            output_artifacts={"out": [kfp_artifact("/shared/x")]},
        ),
    )
    used = recorder.record_task(
        "r1",
        TaskLineage(
            task_id="b",
            task_name="b",
            state="COMPLETE",
            input_artifacts={"in": [kfp_artifact("/shared/x")]},
        ),
    )
    assert used.input_artifact_ids == {"in": made.artifact_ids["out"]}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"state": "DONE"}, "not an execution state"),
        ({"execution_type": "system.Other"}, "execution_type"),
        ({"task_id": ""}, "task_id"),
        ({"output_artifacts": {"m": [{"uri": "/x", "type": {}}]}}, "schemaTitle"),
        ({"input_artifacts": {"m": [{"artifact_id": 99999}]}}, "no artifact with id 99999"),
        (
            {"input_artifacts": {"m": [{"type": {"schemaTitle": "system.Dataset"}}]}},
            "artifact_id or a uri",
        ),
    ],
)
def test_bad_task_lineage_is_refused_without_writing(
    metadata: MetadataStore, change: dict[str, Any], problem: str
) -> None:
    recorder = LineageRecorder(metadata)
    recorder.start_run("r1", "pipe", "run")
    task = TaskLineage(**{"task_id": "t", "task_name": "t", **change})
    with pytest.raises(InvalidArgument, match=problem):
        recorder.record_task("r1", task)
    assert metadata.list_nodes(EXECUTIONS, None).items == []


def test_a_task_of_an_unknown_run_is_refused(metadata: MetadataStore) -> None:
    with pytest.raises(FailedPrecondition, match="start_run"):
        LineageRecorder(metadata).record_task("nope", TaskLineage(task_id="t", task_name="t"))


def test_concurrent_recorders_of_one_task_make_one_execution(
    database_url: str, metadata: MetadataStore
) -> None:
    # Separate engines, as an engine retrying on another worker would have.
    stores = [MetadataStore(Database(build_engine(database_url))) for _ in range(4)]
    LineageRecorder(stores[0]).start_run("race", "pipe", "race")
    task = TaskLineage(
        task_id="t",
        task_name="t",
        state="COMPLETE",
        output_artifacts={"out": [kfp_artifact("/race/out")]},
    )
    barrier = threading.Barrier(len(stores))
    results: list[Any] = []
    errors: list[BaseException] = []

    def record(store: MetadataStore) -> None:
        try:
            barrier.wait()
            results.append(LineageRecorder(store).record_task("race", task))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.db.dispose()  # type: ignore[attr-defined]
    assert errors == []
    assert len({(r.execution_id, tuple(r.artifact_ids["out"])) for r in results}) == 1
    assert _count(metadata) == (2, 1, 1, 1)


def test_tasks_recorded_together_match_tasks_recorded_alone(metadata: MetadataStore) -> None:
    recorder = LineageRecorder(metadata)
    recorder.start_run("r1", "pipe", "run")
    recorder.start_run("r2", "pipe", "other run")
    produce = TaskLineage(
        task_id="produce",
        task_name="produce",
        state="COMPLETE",
        output_artifacts={"data": [kfp_artifact("/root/r1/data")]},
    )
    alone = recorder.record_task("r1", produce)
    [data_id] = alone.artifact_ids["data"]
    consume = TaskLineage(
        task_id="consume",
        task_name="consume",
        state="COMPLETE",
        input_artifacts={"data": [{**kfp_artifact("/root/r1/data"), "artifact_id": data_id}]},
    )
    other = TaskLineage(task_id="produce", task_name="produce", state="RUNNING")
    # One transaction: an update of a recorded task, a new task, a task of another run.
    together = recorder.record_tasks([("r1", produce), ("r1", consume), ("r2", other)])
    assert together[0] == alone
    assert together[1].input_artifact_ids == {"data": [data_id]}
    assert together[2].execution_id not in (alone.execution_id, together[1].execution_id)
    # Two contexts per run, three executions, one artifact, its OUTPUT and INPUT events.
    assert _count(metadata) == (3, 3, 1, 2)
    r1 = recorder.lineage_of_run("r1")
    assert sorted(e["task_name"] for e in r1["executions"]) == ["consume", "produce"]
    assert [e["task_name"] for e in recorder.lineage_of_run("r2")["executions"]] == ["produce"]
    assert recorder.record_tasks([("r1", produce), ("r1", consume)]) == together[:2]
    assert _count(metadata) == (3, 3, 1, 2)


def test_a_batch_with_a_bad_or_repeated_task_writes_nothing(metadata: MetadataStore) -> None:
    recorder = LineageRecorder(metadata)
    recorder.start_run("r1", "pipe", "run")
    good = TaskLineage(task_id="t", task_name="t", state="COMPLETE")
    with pytest.raises(InvalidArgument, match="not an execution state"):
        recorder.record_tasks([("r1", good), ("r1", TaskLineage("u", "u", state="DONE"))])
    with pytest.raises(InvalidArgument, match="given twice"):
        recorder.record_tasks([("r1", good), ("r1", good)])
    with pytest.raises(FailedPrecondition, match="start_run"):
        recorder.record_tasks([("r1", good), ("nope", TaskLineage("u", "u"))])
    assert metadata.list_nodes(EXECUTIONS, None).items == []
