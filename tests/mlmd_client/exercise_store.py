"""Drive a metadata store with the real ``ml-metadata`` client and print what it saw as JSON.

Runs in ``.venv-mlmd`` (ml-metadata pins protobuf<5), as a subprocess of the tests:
``python exercise_store.py --port N [--walk-run RUN_ID]``. It asserts nothing itself: the
test compares its JSON with what the calls must have produced.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd


def connect(port: int) -> metadata_store.MetadataStore:
    config = mlmd.MetadataStoreClientConfig(host="127.0.0.1", port=port)
    return metadata_store.MetadataStore(config)


def error_name(call: Any) -> str:
    try:
        call()
    except errors.StatusError as exc:
        return type(exc).__name__
    return "no error"


def exercise(store: metadata_store.MetadataStore) -> dict[str, Any]:
    out: dict[str, Any] = {}

    # Types: create, re-put unchanged, add a field, read back by name, id and in bulk.
    dataset_type = mlmd.ArtifactType(name="Dataset", properties={"rows": mlmd.INT})
    dataset_type_id = store.put_artifact_type(dataset_type)
    out["type_id_stable"] = store.put_artifact_type(dataset_type) == dataset_type_id
    widened = mlmd.ArtifactType(name="Dataset", properties={"rows": mlmd.INT, "split": mlmd.STRING})
    out["add_field_refused"] = error_name(lambda: store.put_artifact_type(widened))
    out["add_field_allowed"] = (
        store.put_artifact_type(widened, can_add_fields=True) == dataset_type_id
    )
    model_type_id = store.put_artifact_type(
        mlmd.ArtifactType(name="Model", version="v1", properties={"accuracy": mlmd.DOUBLE})
    )
    trainer_type_id = store.put_execution_type(
        mlmd.ExecutionType(name="Trainer", properties={"epochs": mlmd.INT})
    )
    run_type_id = store.put_context_type(mlmd.ContextType(name="Run"))
    fetched = store.get_artifact_type("Dataset")
    out["artifact_type"] = {
        "name": fetched.name,
        "properties": {k: mlmd.PropertyType.Name(v) for k, v in sorted(fetched.properties.items())},
    }
    out["model_type_version"] = store.get_artifact_type("Model", type_version="v1").version
    out["missing_type"] = error_name(lambda: store.get_artifact_type("Nope"))
    out["artifact_type_names"] = sorted(t.name for t in store.get_artifact_types())
    out["types_by_id"] = [t.name for t in store.get_execution_types_by_id([trainer_type_id])] + [
        t.name for t in store.get_context_types_by_id([run_type_id])
    ]

    # Artifacts of every value kind; read back by id, type, uri, name.
    data = mlmd.Artifact(type_id=dataset_type_id, uri="/data/train", name="train-data")
    data.properties["rows"].int_value = 1000
    data.properties["split"].string_value = "train"
    data.custom_properties["ratio"].double_value = 0.8
    data.custom_properties["ok"].bool_value = True
    data.custom_properties["meta"].struct_value.update({"source": "s3", "n": 3})
    data.state = mlmd.Artifact.LIVE
    [data_id] = store.put_artifacts([data])
    [read] = store.get_artifacts_by_id([data_id])
    out["artifact"] = {
        "uri": read.uri,
        "name": read.name,
        "type": read.type,
        "state": mlmd.Artifact.State.Name(read.state),
        "rows": read.properties["rows"].int_value,
        "split": read.properties["split"].string_value,
        "ratio": read.custom_properties["ratio"].double_value,
        "ok": read.custom_properties["ok"].bool_value,
        "meta": dict(read.custom_properties["meta"].struct_value),
        "has_times": read.create_time_since_epoch > 0 and read.last_update_time_since_epoch > 0,
    }
    out["undeclared_property"] = error_name(
        lambda: store.put_artifacts(
            [mlmd.Artifact(type_id=dataset_type_id, properties={"bogus": mlmd.Value(int_value=1)})]
        )
    )
    out["duplicate_name"] = error_name(
        lambda: store.put_artifacts([mlmd.Artifact(type_id=dataset_type_id, name="train-data")])
    )
    out["by_uri"] = [a.id == data_id for a in store.get_artifacts_by_uri("/data/train")]
    by_name = store.get_artifact_by_type_and_name("Dataset", "train-data")
    out["by_type_and_name"] = by_name.id == data_id if by_name else None
    out["by_type_and_name_missing"] = store.get_artifact_by_type_and_name("Dataset", "nope")

    # Update: a changed uri, a masked update that leaves the uri alone.
    read.uri = "/data/train-v2"
    store.put_artifacts([read])
    masked = mlmd.Artifact(id=data_id, uri="/ignored")
    masked.custom_properties["note"].string_value = "masked"
    store.put_artifacts([masked], field_mask_paths=["custom_properties.note"])
    [updated] = store.get_artifacts_by_id([data_id])
    out["updated"] = {
        "uri": updated.uri,
        "note": updated.custom_properties["note"].string_value,
        "rows": updated.properties["rows"].int_value,
    }

    # PutExecution: an input, an output, a new context; the events and links it makes.
    run_context = mlmd.Context(type_id=run_type_id, name="run-1")
    trainer = mlmd.Execution(type_id=trainer_type_id, last_known_state=mlmd.Execution.RUNNING)
    trainer.properties["epochs"].int_value = 5
    model = mlmd.Artifact(type_id=model_type_id, uri="/models/m1")
    model.properties["accuracy"].double_value = 0.93

    def event(kind: int, key: str) -> mlmd.Event:
        made = mlmd.Event(type=kind)
        made.path.steps.add().key = key
        return made

    execution_id, artifact_ids, context_ids = store.put_execution(
        trainer,
        [
            (updated, event(mlmd.Event.INPUT, "examples")),
            (model, event(mlmd.Event.OUTPUT, "model")),
        ],
        [run_context],
    )
    model_id = artifact_ids[1]
    out["put_execution"] = {
        "artifact_ids_match": artifact_ids[0] == data_id,
        "contexts": len(context_ids),
    }
    again = mlmd.Context(type_id=run_type_id, name="run-1")
    _, _, reused = store.put_execution(
        mlmd.Execution(type_id=trainer_type_id), [], [again], reuse_context_if_already_exist=True
    )
    out["context_reused"] = reused == context_ids
    events = store.get_events_by_execution_ids([execution_id])
    out["events"] = sorted(
        [mlmd.Event.Type.Name(e.type), e.artifact_id == data_id, e.path.steps[0].key]
        for e in events
    )
    out["events_by_artifact"] = [
        e.execution_id == execution_id for e in store.get_events_by_artifact_ids([model_id])
    ]
    out["context_artifacts"] = sorted(a.uri for a in store.get_artifacts_by_context(context_ids[0]))
    out["context_executions"] = len(store.get_executions_by_context(context_ids[0]))
    out["contexts_of_artifact"] = [c.name for c in store.get_contexts_by_artifact(model_id)]
    out["contexts_of_execution"] = [c.name for c in store.get_contexts_by_execution(execution_id)]

    # Parent contexts.
    experiment_type_id = store.put_context_type(mlmd.ContextType(name="Experiment"))
    [experiment_id] = store.put_contexts([mlmd.Context(type_id=experiment_type_id, name="exp")])
    store.put_parent_contexts(
        [mlmd.ParentContext(child_id=context_ids[0], parent_id=experiment_id)]
    )
    out["parents"] = [c.name for c in store.get_parent_contexts_by_context(context_ids[0])]
    out["children"] = [c.name for c in store.get_children_contexts_by_context(experiment_id)]
    out["cycle"] = error_name(
        lambda: store.put_parent_contexts(
            [mlmd.ParentContext(child_id=experiment_id, parent_id=context_ids[0])]
        )
    )

    # PutLineageSubgraph: evaluator reads the model and writes metrics, all in one call.
    evaluator_type_id = store.put_execution_type(mlmd.ExecutionType(name="Evaluator"))
    metrics_type_id = store.put_artifact_type(mlmd.ArtifactType(name="Metrics"))
    [stored_model] = store.get_artifacts_by_id([model_id])
    execution_ids, artifact_ids_2, _ = store.put_lineage_subgraph(
        [mlmd.Execution(type_id=evaluator_type_id, name="eval-1")],
        [stored_model, mlmd.Artifact(type_id=metrics_type_id, uri="/metrics/1")],
        [mlmd.Context(type_id=run_type_id, name="run-1")],
        [(0, 0, mlmd.Event(type=mlmd.Event.INPUT)), (0, 1, mlmd.Event(type=mlmd.Event.OUTPUT))],
        reuse_context_if_already_exist=True,
    )
    metrics_id = artifact_ids_2[1]

    # Lineage subgraph: upstream of the metrics reaches the dataset in four hops.
    query = mlmd.LineageSubgraphQueryOptions(
        starting_artifacts=mlmd.LineageSubgraphQueryOptions.StartingNodes(
            filter_query=f"id = {metrics_id}"
        ),
        max_num_hops=4,
        direction=mlmd.LineageSubgraphQueryOptions.UPSTREAM,
    )
    graph = store.get_lineage_subgraph(query)
    out["subgraph"] = {
        "artifacts": sorted(a.uri for a in graph.artifacts),
        "executions": sorted(e.type for e in graph.executions),
        "events": len(graph.events),
        "contexts": sorted(c.name for c in graph.contexts),
        "artifact_types": sorted(t.name for t in graph.artifact_types),
    }
    query.max_num_hops = 2
    out["subgraph_two_hops"] = sorted(a.uri for a in store.get_lineage_subgraph(query).artifacts)
    only_artifacts = store.get_lineage_subgraph(query, field_mask_paths=["artifacts"])
    out["subgraph_masked"] = [len(only_artifacts.artifacts), len(only_artifacts.executions)]
    out["execution_ids_subgraph"] = len(execution_ids)

    # Paging, ordering and filters over many artifacts.
    many = [
        mlmd.Artifact(
            type_id=dataset_type_id,
            uri=f"/many/{i:03d}",
            properties={"rows": mlmd.Value(int_value=i)},
        )
        for i in range(45)
    ]
    many_ids = store.put_artifacts(many)
    out["bulk_ids_increasing"] = many_ids == sorted(many_ids)
    page_all = store.get_artifacts_by_type("Dataset")
    out["by_type_count"] = len(page_all)
    options = metadata_store.ListOptions(
        limit=30, order_by=metadata_store.OrderByField.ID, is_asc=False
    )
    desc = store.get_artifacts(list_options=options)
    out["paged_desc"] = [
        len(desc),
        [a.id for a in desc] == sorted((a.id for a in desc), reverse=True),
    ]
    filtered = store.get_artifacts(
        list_options=metadata_store.ListOptions(
            filter_query="type = 'Dataset' AND properties.rows.int_value >= 40"
        )
    )
    out["filter_property"] = sorted(a.properties["rows"].int_value for a in filtered)
    in_context = store.get_artifacts(
        list_options=metadata_store.ListOptions(filter_query="contexts_a.name = 'run-1'")
    )
    out["filter_context"] = sorted(a.uri for a in in_context)
    custom = store.get_artifacts(
        list_options=metadata_store.ListOptions(
            filter_query="custom_properties.note.string_value = 'masked' OR uri LIKE '/metrics/%'"
        )
    )
    out["filter_custom_or"] = sorted(a.uri for a in custom)
    created_after = store.get_executions(
        list_options=metadata_store.ListOptions(
            filter_query="create_time_since_epoch > 0 AND last_known_state = RUNNING"
        )
    )
    out["filter_time_and_state"] = len(created_after)
    out["bad_filter"] = error_name(
        lambda: store.get_artifacts(list_options=metadata_store.ListOptions(filter_query="uri ==="))
    )
    out["executions_by_type"] = len(store.get_executions_by_type("Trainer"))
    out["contexts_by_type"] = [c.name for c in store.get_contexts_by_type("Run")]
    out["context_by_name"] = store.get_context_by_type_and_name("Run", "run-1").id == context_ids[0]
    out["external_ids"] = error_name(lambda: store.get_artifacts_by_external_ids([""]))
    return out


def walk_run(store: metadata_store.MetadataStore, run_id: str) -> dict[str, Any]:
    """Run context -> executions -> output artifacts -> the executions that consumed them."""
    run = store.get_context_by_type_and_name("system.PipelineRun", run_id)
    if run is None:
        return {"run": None}
    pipelines = store.get_parent_contexts_by_context(run.id)
    executions = store.get_executions_by_context(run.id)
    names = {e.id: e.custom_properties["task_name"].string_value for e in executions}
    walk = []
    for execution in sorted(executions, key=lambda e: e.id):
        outputs = [
            e
            for e in store.get_events_by_execution_ids([execution.id])
            if e.type == mlmd.Event.OUTPUT
        ]
        for output in outputs:
            [artifact] = store.get_artifacts_by_id([output.artifact_id])
            consumers = [
                names.get(e.execution_id, "?")
                for e in store.get_events_by_artifact_ids([artifact.id])
                if e.type == mlmd.Event.INPUT
            ]
            walk.append(
                {
                    "producer": names[execution.id],
                    "state": mlmd.Execution.State.Name(execution.last_known_state),
                    "output": output.path.steps[0].key,
                    "artifact_type": artifact.type,
                    "uri": artifact.uri,
                    "consumers": sorted(consumers),
                }
            )
    return {
        "run": run.name,
        "pipelines": [p.name for p in pipelines],
        "executions": sorted(
            [names[e.id], e.type, mlmd.Execution.State.Name(e.last_known_state)] for e in executions
        ),
        "walk": walk,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--walk-run")
    args = parser.parse_args()
    store = connect(args.port)
    result = walk_run(store, args.walk_run) if args.walk_run else exercise(store)
    json.dump(result, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
