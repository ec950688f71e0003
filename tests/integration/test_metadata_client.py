"""The real ``ml-metadata`` client (its own venv, a subprocess) against our gRPC server.

The client script prints what each call returned; these tests hold those answers to what
ML-Metadata's own server gives for the same calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lineage_inputs import kfp_artifact

from metadata_store import LineageRecorder, MetadataStore, TaskLineage


def test_the_real_client_drives_every_kind_of_call(
    mlmd_port: int, mlmd_client: Callable[..., Any]
) -> None:
    seen = mlmd_client(mlmd_port)
    assert seen == {
        # types
        "type_id_stable": True,
        "add_field_refused": "AlreadyExistsError",
        "add_field_allowed": True,
        "artifact_type": {"name": "Dataset", "properties": {"rows": "INT", "split": "STRING"}},
        "model_type_version": "v1",
        "missing_type": "NotFoundError",
        "artifact_type_names": ["Dataset", "Model"],
        "types_by_id": ["Trainer", "Run"],
        # artifacts with every value kind
        "artifact": {
            "uri": "/data/train",
            "name": "train-data",
            "type": "Dataset",
            "state": "LIVE",
            "rows": 1000,
            "split": "train",
            "ratio": 0.8,
            "ok": True,
            "meta": {"source": "s3", "n": 3.0},
            "has_times": True,
        },
        "undeclared_property": "InvalidArgumentError",
        "duplicate_name": "AlreadyExistsError",
        "by_uri": [True],
        "by_type_and_name": True,
        "by_type_and_name_missing": None,
        "updated": {"uri": "/data/train-v2", "note": "masked", "rows": 1000},
        # PutExecution, events, contexts
        "put_execution": {"artifact_ids_match": True, "contexts": 1},
        "context_reused": True,
        "events": [["INPUT", True, "examples"], ["OUTPUT", False, "model"]],
        "events_by_artifact": [True],
        "context_artifacts": ["/data/train-v2", "/models/m1"],
        "context_executions": 2,
        "contexts_of_artifact": ["run-1"],
        "contexts_of_execution": ["run-1"],
        "parents": ["exp"],
        "children": ["run-1"],
        "cycle": "InvalidArgumentError",
        # PutLineageSubgraph and GetLineageSubgraph
        "execution_ids_subgraph": 1,
        "subgraph": {
            "artifacts": ["/data/train-v2", "/metrics/1", "/models/m1"],
            "executions": ["Evaluator", "Trainer"],
            "events": 4,
            "contexts": ["run-1"],
            "artifact_types": ["Dataset", "Metrics", "Model"],
        },
        "subgraph_two_hops": ["/metrics/1", "/models/m1"],
        "subgraph_masked": [2, 0],
        # paging, ordering, filters
        "bulk_ids_increasing": True,
        "by_type_count": 46,
        "paged_desc": [30, True],
        "filter_property": [40, 41, 42, 43, 44, 1000],
        "filter_context": ["/data/train-v2", "/metrics/1", "/models/m1"],
        "filter_custom_or": ["/data/train-v2", "/metrics/1"],
        "filter_time_and_state": 1,
        "bad_filter": "InvalidArgumentError",
        "executions_by_type": 2,
        "contexts_by_type": ["run-1"],
        "context_by_name": True,
        "external_ids": "InvalidArgumentError",
    }


def test_a_recorded_run_walks_from_run_to_consumer_with_the_real_client(
    metadata: MetadataStore, mlmd_port: int, mlmd_client: Callable[..., Any]
) -> None:
    recorder = LineageRecorder(metadata)
    recorder.start_run("run-42", "train-pipeline", "nightly training")
    prepared = recorder.record_task(
        "run-42",
        TaskLineage(
            task_id="t-prepare",
            task_name="prepare",
            state="COMPLETE",
            input_parameters={"rows": 100},
            output_artifacts={
                "data": [kfp_artifact("/root/run-42/prepare/data", "system.Dataset")]
            },
        ),
    )
    [data_id] = prepared.artifact_ids["data"]
    recorder.record_task(
        "run-42",
        TaskLineage(
            task_id="t-train",
            task_name="train",
            state="COMPLETE",
            input_artifacts={
                "data": [
                    kfp_artifact("/root/run-42/prepare/data", "system.Dataset", artifact_id=data_id)
                ]
            },
            output_artifacts={"model": [kfp_artifact("/root/run-42/train/model", "system.Model")]},
        ),
    )
    seen = mlmd_client(mlmd_port, "--walk-run", "run-42")
    assert seen == {
        "run": "run-42",
        "pipelines": ["train-pipeline"],
        "executions": [
            ["prepare", "system.ContainerExecution", "COMPLETE"],
            ["train", "system.ContainerExecution", "COMPLETE"],
        ],
        "walk": [
            {
                "producer": "prepare",
                "state": "COMPLETE",
                "output": "data",
                "artifact_type": "system.Dataset",
                "uri": "/root/run-42/prepare/data",
                "consumers": ["train"],
            },
            {
                "producer": "train",
                "state": "COMPLETE",
                "output": "model",
                "artifact_type": "system.Model",
                "uri": "/root/run-42/train/model",
                "consumers": [],
            },
        ],
    }
