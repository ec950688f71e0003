"""EngineLineage: the engine's jobs and outcomes, as the embedded engine hands them over,
recorded and then walked with the real ml-metadata client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lineage_inputs import kfp_artifact
from sqlalchemy import event

from api_server.storage import Database
from metadata_store import EngineLineage, LineageRecorder, MetadataStore
from metadata_store.store import EXECUTIONS


@dataclass(frozen=True)
class Context:
    job_name: str


@dataclass(frozen=True)
class Job:
    """The fields of the engine's Job that lineage reads."""

    run_id: str
    node_id: str
    task_name: str
    display_name: str
    context: Context
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cache_key: str = ""


@dataclass(frozen=True)
class Outcome:
    state: str
    outputs: dict[str, Any] = field(default_factory=dict)
    executor_detail: dict[str, Any] | None = None


def _dataset(uri: str) -> dict[str, Any]:
    return kfp_artifact(uri, name="data", metadata={"rows": 10})


def _run(lineage: EngineLineage, run_id: str, *, cached: dict[str, Any] | None) -> dict[str, Any]:
    context = Context(job_name=f"nightly {run_id}")
    produce = Job(run_id, "n-produce", "produce", "Produce", context, {"n": 10}, cache_key="k1")
    detail = {"cached": True, "cache_key": "k1", "cached_from": cached} if cached else None
    produced = lineage.record(
        produce,
        Outcome(
            "SUCCEEDED",
            {"parameters": {}, "artifacts": {"data": [_dataset("/root/run-a/produce/data")]}},
            detail,
        ),
    )
    consume = Job(
        run_id,
        "n-consume",
        "consume",
        "Consume",
        context,
        artifacts={"data": [_dataset("/root/run-a/produce/data")]},
    )
    consumed = lineage.record(consume, Outcome("FAILED"))
    assert produced is not None and consumed is not None
    return {"produced": produced, "consumed": consumed}


def test_engine_jobs_become_lineage_the_real_client_can_walk(
    metadata: MetadataStore, mlmd_port: int, mlmd_client: Callable[..., Any]
) -> None:
    lineage = EngineLineage(LineageRecorder(metadata), pipeline_name_of=lambda run_id: "etl")
    first = _run(lineage, "run-a", cached=None)
    [data_id] = first["produced"]["artifact_ids"]["data"]
    assert first["consumed"]["input_artifact_ids"] == {"data": [data_id]}
    again = _run(lineage, "run-a", cached=None)  # the engine resumed: nothing new
    assert again == first

    origin = {"run_id": "run-a", "task_id": "n-produce"}
    origin["execution_id"] = first["produced"]["execution_id"]
    second = _run(lineage, "run-b", cached=origin)
    assert second["produced"]["artifact_ids"] == {"data": [data_id]}  # the reused artifact
    [hit] = metadata.get_nodes_by_id(EXECUTIONS, [second["produced"]["execution_id"]])
    assert hit.last_known_state == hit.CACHED
    assert hit.custom_properties["cached_execution_id"].int_value == origin["execution_id"]
    assert hit.custom_properties["cache_fingerprint"].string_value == "k1"

    seen = mlmd_client(mlmd_port, "--walk-run", "run-b")
    assert seen == {
        "run": "run-b",
        "pipelines": ["etl"],
        "executions": [
            ["consume", "system.ContainerExecution", "FAILED"],
            ["produce", "system.ContainerExecution", "CACHED"],
        ],
        "walk": [
            {
                "producer": "produce",
                "state": "CACHED",
                "output": "data",
                "artifact_type": "system.Dataset",
                "uri": "/root/run-a/produce/data",
                # The artifact is shared with run-a, whose consumer is outside this run.
                "consumers": ["?", "consume"],
            }
        ],
    }


def test_tasks_finished_together_are_recorded_together_and_a_bad_one_fails_alone(
    metadata: MetadataStore,
) -> None:
    lineage = EngineLineage(LineageRecorder(metadata), pipeline_name_of=lambda run_id: "fan")
    context = Context(job_name="fan-out")
    count = 24
    finished = []
    for index in range(count):
        uri = f"/root/fan/{index}/data"
        artifact = _dataset(uri) if index != 7 else {"uri": uri, "type": {}}  # no schemaTitle
        job = Job("fan", f"n-{index}", f"task-{index}", f"Task {index}", context, {"i": index})
        finished.append((job, Outcome("SUCCEEDED", {"artifacts": {"data": [artifact]}})))
    results = lineage.record_many(finished)
    assert isinstance(results[7], Exception) and "schemaTitle" in str(results[7])
    recorded = [r for i, r in enumerate(results) if i != 7]
    assert all(isinstance(r, dict) for r in recorded)
    by_execution = {
        e.id: e.custom_properties["task_name"].string_value
        for e in metadata.get_nodes_by_id(
            EXECUTIONS,
            [r["execution_id"] for r in recorded],  # type: ignore[index]
        )
    }
    assert [by_execution[r["execution_id"]] for r in recorded] == [  # type: ignore[index]
        f"task-{i}" for i in range(count) if i != 7
    ]
    assert len({tuple(r["artifact_ids"]["data"]) for r in recorded}) == count - 1  # type: ignore[index]
    assert len(LineageRecorder(metadata).lineage_of_run("fan")["executions"]) == count - 1
    # Recorded again (a resumed run): the same ids, nothing new.
    assert lineage.record_many([f for i, f in enumerate(finished) if i != 7]) == recorded
    assert len(metadata.list_nodes(EXECUTIONS, None).items) == count - 1


def _fan_out(run_id: str, indexes: range, state: str = "SUCCEEDED") -> list[tuple[Job, Outcome]]:
    """Finished iterations of a ParallelFor of trivial tasks: no artifacts, one input."""
    context = Context(job_name="fan-out")
    return [
        (Job(run_id, f"n-{i}", "trivial", "Trivial", context, {"item": i}), Outcome(state))
        for i in indexes
    ]


def test_a_batch_of_new_tasks_takes_a_few_statements_and_looks_nothing_up(
    db: Database, metadata: MetadataStore
) -> None:
    lineage = EngineLineage(LineageRecorder(metadata), pipeline_name_of=lambda run_id: "fan")
    lineage.record_many(_fan_out("fan", range(4)))  # the run's contexts and types exist now

    def sent_by(call: Callable[[], object]) -> list[str]:
        sent: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            sent.append(" ".join(statement.split()))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            call()
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return sent

    few = sent_by(lambda: lineage.record_many(_fan_out("fan", range(4, 8))))
    many = sent_by(lambda: lineage.record_many(_fan_out("fan", range(8, 72))))
    assert len(few) == len(many)
    # The executions, their properties and their links to the run: a statement each, plus
    # SQLite's BEGIN IMMEDIATE and max(id). Only MariaDB, which cannot skip a stored
    # external id in an INSERT, looks the executions up first.
    expected = {"sqlite": 5, "postgresql": 3, "mysql": 4}[db.backend]
    assert len(many) == expected, many
    looked_up = [s for s in many if s.startswith("SELECT") and "external_id IN" in s]
    assert len(looked_up) == (1 if db.backend == "mysql" else 0), many
    # A round that finished one task: on SQLite its INSERT returns the id, no max(id).
    one = sent_by(lambda: lineage.record_many(_fan_out("fan", range(72, 73))))
    assert len(one) == {"sqlite": 4, "postgresql": 3, "mysql": 4}[db.backend], one
    assert len(metadata.list_nodes(EXECUTIONS, None).items) == 73


def test_a_batch_of_new_and_recorded_tasks_inserts_the_new_and_updates_the_others(
    metadata: MetadataStore,
) -> None:
    lineage = EngineLineage(LineageRecorder(metadata), pipeline_name_of=lambda run_id: "fan")
    first = lineage.record_many(_fan_out("fan", range(8), "FAILED"))
    # A resumed run records tasks 4-7 again, now succeeded, with new tasks 8-11.
    second = lineage.record_many(_fan_out("fan", range(4, 12)))
    assert all(isinstance(r, dict) for r in [*first, *second])
    ids = {i: r["execution_id"] for i, r in zip(range(8), first, strict=True)}  # type: ignore[index]
    again = {i: r["execution_id"] for i, r in zip(range(4, 12), second, strict=True)}  # type: ignore[index]
    assert [again[i] for i in range(4, 8)] == [ids[i] for i in range(4, 8)]
    assert len(set(again.values()) | set(ids.values())) == 12
    executions = {
        int(e.custom_properties["inputs"].struct_value["item"]): e
        for e in metadata.list_nodes(EXECUTIONS, None).items
    }
    assert len(executions) == 12
    for i, execution in executions.items():
        assert execution.last_known_state == (execution.FAILED if i < 4 else execution.COMPLETE), i
        assert execution.external_id == f"fan/n-{i}"
        assert execution.custom_properties["task_name"].string_value == "trivial"
        assert execution.custom_properties["display_name"].string_value == "Trivial"
        assert execution.custom_properties["run_id"].string_value == "fan"
    lineage_of_run = LineageRecorder(metadata).lineage_of_run("fan")
    assert len(lineage_of_run["executions"]) == 12  # every one associated with the run
