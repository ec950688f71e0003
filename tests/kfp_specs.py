"""Compile pipelines with the real kfp compiler at test time and pick their parts apart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler


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
