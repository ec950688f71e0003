"""Compile pipelines with the real kfp compiler at test time and pick their parts apart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler

from api_server.backends.embedded.executor_input import build_executor_input


@dataclass(frozen=True)
class CompiledTask:
    """One task of a compiled pipeline: its executor's container and its componentSpec."""

    name: str
    container: dict[str, Any]
    component: dict[str, Any]


def compile_pipeline(pipeline: Any, folder: Path) -> dict[str, Any]:
    """The pipeline spec (as JSON) the kfp compiler produces for ``pipeline``."""
    path = folder / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    spec: dict[str, Any] = yaml.safe_load(path.read_text())
    return spec


def compiled_task(spec: dict[str, Any], task_name: str) -> CompiledTask:
    """The container and component of the root DAG's task ``task_name``."""
    task = spec["root"]["dag"]["tasks"][task_name]
    component = spec["components"][task["componentRef"]["name"]]
    executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]
    return CompiledTask(name=task_name, container=executor["container"], component=component)


def executor_input_for(
    task: CompiledTask,
    work: Path,
    parameters: dict[str, Any],
    input_artifacts: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The ExecutorInput of one attempt of ``task``: its declared outputs under ``work``
    (artifacts in ``work/artifacts/<name>``)."""
    outputs = task.component.get("outputDefinitions", {})
    return build_executor_input(
        parameters=parameters,
        input_artifacts=input_artifacts or {},
        output_parameters=outputs.get("parameters", {}),
        output_artifacts={
            name: {"uri": str(work / "artifacts" / name), "type": definition["artifactType"]}
            for name, definition in outputs.get("artifacts", {}).items()
        },
        output_file=str(work / "executor_output.json"),
        work_dir=work,
    )
