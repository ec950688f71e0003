"""Regenerate ``broken/``: pipeline packages that must be refused, and why.

Each spec case starts from ``BASE``, a small valid hand-written spec, and breaks one thing.
``broken/expected.json`` maps each file name to a substring its error message must contain.

Usage: ``python tests/pipelines/make_broken.py``
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent / "broken"
HEADER = "# Broken on purpose: {why}. See expected.json.\n"

Spec = dict[str, Any]


def _artifact(title: str) -> dict[str, Any]:
    return {"artifactType": {"schemaTitle": title, "schemaVersion": "0.0.1"}}


def _container(name: str) -> dict[str, Any]:
    return {"container": {"image": "python:3.11-slim", "command": ["python3", "-c", name]}}


BASE: Spec = {
    "pipelineInfo": {"name": "broken-base"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.16.1",
    "components": {
        "comp-prepare": {
            "executorLabel": "exec-prepare",
            "outputDefinitions": {
                "parameters": {"Output": {"parameterType": "STRING"}},
                "artifacts": {"data": _artifact("system.Dataset")},
            },
        },
        "comp-train": {
            "executorLabel": "exec-train",
            "inputDefinitions": {
                "parameters": {
                    "epochs": {"parameterType": "NUMBER_INTEGER"},
                    "note": {"parameterType": "STRING", "isOptional": True, "defaultValue": ""},
                },
                "artifacts": {"data": _artifact("system.Dataset")},
            },
            "outputDefinitions": {"artifacts": {"model": _artifact("system.Model")}},
        },
    },
    "deploymentSpec": {
        "executors": {"exec-prepare": _container("prepare"), "exec-train": _container("train")}
    },
    "root": {
        "inputDefinitions": {
            "parameters": {
                "epochs": {
                    "parameterType": "NUMBER_INTEGER",
                    "defaultValue": 3.0,
                    "isOptional": True,
                }
            }
        },
        "outputDefinitions": {"artifacts": {"model": _artifact("system.Model")}},
        "dag": {
            "tasks": {
                "prepare": {
                    "componentRef": {"name": "comp-prepare"},
                    "taskInfo": {"name": "prepare"},
                },
                "train": {
                    "componentRef": {"name": "comp-train"},
                    "dependentTasks": ["prepare"],
                    "inputs": {
                        "parameters": {
                            "epochs": {"componentInputParameter": "epochs"},
                            "note": {
                                "taskOutputParameter": {
                                    "producerTask": "prepare",
                                    "outputParameterKey": "Output",
                                }
                            },
                        },
                        "artifacts": {
                            "data": {
                                "taskOutputArtifact": {
                                    "producerTask": "prepare",
                                    "outputArtifactKey": "data",
                                }
                            }
                        },
                    },
                    "taskInfo": {"name": "train"},
                },
            },
            "outputs": {
                "artifacts": {
                    "model": {
                        "artifactSelectors": [
                            {"producerSubtask": "train", "outputArtifactKey": "model"}
                        ]
                    }
                }
            },
        },
    },
}


def _tasks(spec: Spec) -> Any:
    return spec["root"]["dag"]["tasks"]


def _train_params(spec: Spec) -> Any:
    return _tasks(spec)["train"]["inputs"]["parameters"]


def _train_artifacts(spec: Spec) -> Any:
    return _tasks(spec)["train"]["inputs"]["artifacts"]


def _rename(mapping: dict[str, Any], old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def _self_referencing_component(spec: Spec) -> None:
    again = {"componentRef": {"name": "comp-loop"}, "taskInfo": {"name": "again"}}
    spec["components"]["comp-loop"] = {"dag": {"tasks": {"again": again}}}
    _tasks(spec)["loop"] = {"componentRef": {"name": "comp-loop"}, "taskInfo": {"name": "loop"}}


def _loop_with_wrong_item_input(spec: Spec) -> None:
    item = "pipelinechannel--loop-item-param-1"
    body = {
        "componentRef": {"name": "comp-train"},
        "inputs": {"parameters": {"epochs": {"componentInputParameter": item}}},
        "taskInfo": {"name": "train"},
    }
    spec["components"]["comp-for-loop-1"] = {
        "dag": {"tasks": {"train": body}},
        "inputDefinitions": {"parameters": {item: {"parameterType": "NUMBER_INTEGER"}}},
    }
    _tasks(spec)["loop"] = {
        "componentRef": {"name": "comp-for-loop-1"},
        "parameterIterator": {
            "itemInput": "pipelinechannel--loop-item-param-9",
            "items": {"raw": "[1, 2]"},
        },
        "taskInfo": {"name": "loop"},
    }


def _set(path: list[str | int], value: Any) -> Callable[[Spec], None]:
    """A mutation that sets ``spec[path...] = value``."""

    def mutate(spec: Spec) -> None:
        node: Any = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path: list[str]) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        node: Any = spec
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


_TRAIN = ["root", "dag", "tasks", "train"]
_NOTE = [*_TRAIN, "inputs", "parameters", "note", "taskOutputParameter"]
_DATA = [*_TRAIN, "inputs", "artifacts", "data", "taskOutputArtifact"]

# name -> (why, expected message substring, mutation)
SPEC_CASES: dict[str, tuple[str, str, Callable[[Spec], None]]] = {
    "unknown_component": (
        "a task refers to a misspelt component",
        "pipeline_spec.root.dag.tasks['train'].componentRef.name: unknown component 'comp-trian'",
        _set([*_TRAIN, "componentRef", "name"], "comp-trian"),
    ),
    "missing_executor": (
        "an executorLabel points at no executor",
        "pipeline_spec.components['comp-train'].executorLabel: unknown executor 'exec-train'",
        _delete(["deploymentSpec", "executors", "exec-train"]),
    ),
    "dangling_dependent_task": (
        "dependentTasks names a task that does not exist",
        "tasks['train'].dependentTasks[1]: unknown task 'evaluate'",
        _set([*_TRAIN, "dependentTasks"], ["prepare", "evaluate"]),
    ),
    "bad_producer_task": (
        "a taskOutputParameter comes from a task that does not exist",
        "inputs.parameters['note'].taskOutputParameter.producerTask: unknown task 'prep'",
        _set([*_NOTE, "producerTask"], "prep"),
    ),
    "unknown_output_key": (
        "an output parameter the producer does not declare is consumed",
        "task 'prepare' (component 'comp-prepare') has no output parameter 'Ouptut'",
        _set([*_NOTE, "outputParameterKey"], "Ouptut"),
    ),
    "unknown_output_artifact": (
        "an output artifact the producer does not declare is consumed",
        "taskOutputArtifact.outputArtifactKey: task 'prepare' (component 'comp-prepare') "
        "has no output artifact 'dataset'",
        _set([*_DATA, "outputArtifactKey"], "dataset"),
    ),
    "unknown_input_name": (
        "a task passes an input parameter the component does not declare",
        "tasks['train'].inputs.parameters['epoch']: component 'comp-train' has no input "
        "parameter 'epoch'",
        lambda spec: _rename(_train_params(spec), "epochs", "epoch"),
    ),
    "unknown_input_artifact": (
        "a task passes an input artifact the component does not declare",
        "inputs.artifacts['dataset']: component 'comp-train' has no input artifact 'dataset'",
        lambda spec: _rename(_train_artifacts(spec), "data", "dataset"),
    ),
    "unknown_pipeline_input": (
        "a task reads a pipeline parameter that does not exist",
        "componentInputParameter: 'n_epochs' is not an input parameter of the pipeline (root)",
        _set([*_TRAIN, "inputs", "parameters", "epochs", "componentInputParameter"], "n_epochs"),
    ),
    "bad_schema_version": (
        "a KFP v1 style schema version",
        "pipeline_spec.schemaVersion: unsupported schema version '1.0.0'",
        _set(["schemaVersion"], "1.0.0"),
    ),
    "future_schema_version": (
        "a major schema version this server does not know",
        "pipeline_spec.schemaVersion: unsupported schema version '3.0.0'",
        _set(["schemaVersion"], "3.0.0"),
    ),
    "missing_pipeline_name": (
        "pipelineInfo has no name",
        "pipeline_spec.pipelineInfo.name: missing",
        _set(["pipelineInfo"], {"description": "no name here"}),
    ),
    "root_without_dag": (
        "the root component is not a DAG",
        "pipeline_spec.root.dag: missing; the root component must be a DAG",
        _delete(["root", "dag"]),
    ),
    "dependency_cycle": (
        "two tasks wait for each other",
        "pipeline_spec.root.dag.tasks: dependency cycle: prepare -> train -> prepare",
        _set(["root", "dag", "tasks", "prepare", "dependentTasks"], ["train"]),
    ),
    "component_cycle": (
        "a sub-DAG component instantiates itself",
        "pipeline_spec.components: component DAG cycle: comp-loop -> comp-loop",
        _self_referencing_component,
    ),
    "unknown_parameter_type": (
        "a parameterType outside the enum",
        "inputDefinitions.parameters['epochs'].parameterType: unknown parameter type 'INT'",
        _set(
            ["components", "comp-train", "inputDefinitions", "parameters", "epochs"],
            {"parameterType": "INT"},
        ),
    ),
    "container_without_image": (
        "a container executor has no image",
        "pipeline_spec.deploymentSpec.executors['exec-train'].container.image: missing",
        _delete(["deploymentSpec", "executors", "exec-train", "container", "image"]),
    ),
    "component_both_kinds": (
        "a component has both an executor and a DAG",
        "pipeline_spec.components['comp-prepare']: must have exactly one of executorLabel or dag",
        _set(["components", "comp-prepare", "dag"], {"tasks": {}}),
    ),
    "executor_without_kind": (
        "an executor is neither container, importer, resolver nor customJob",
        "executors['exec-prepare']: must define exactly one of container, importer, resolver, "
        "customJob (found none)",
        _set(["deploymentSpec", "executors", "exec-prepare"], {"containr": {"image": "busybox"}}),
    ),
    "bad_dag_output": (
        "a DAG output is selected from a task that does not exist",
        "pipeline_spec.root.dag.outputs.artifacts['model'].artifactSelectors[0].producerSubtask: "
        "unknown task 'trainer'",
        _set(
            ["root", "dag", "outputs", "artifacts", "model", "artifactSelectors", 0],
            {"producerSubtask": "trainer", "outputArtifactKey": "model"},
        ),
    ),
    "bad_iterator_item": (
        "a ParallelFor item feeds an input the loop body does not declare",
        "tasks['loop'].parameterIterator.itemInput: component 'comp-for-loop-1' has no input "
        "parameter 'pipelinechannel--loop-item-param-9'",
        _loop_with_wrong_item_input,
    ),
}

_NOT_A_MAPPING = "the first document must be a mapping (the PipelineSpec)"

# name -> (file text, expected message substring): cases that are not a mutated spec.
RAW_CASES: dict[str, tuple[str, str]] = {
    "not_yaml.yaml": ("pipelineInfo: {name: [oops\nroot: dag: tasks\n", "not valid YAML or JSON"),
    "yaml_list.yaml": (
        "# A list, not a mapping.\n- pipelineInfo:\n    name: listed\n- root: {}\n",
        f"{_NOT_A_MAPPING}, got a list",
    ),
    "scalar_document.yaml": ("just some words\n", f"{_NOT_A_MAPPING}, got a string"),
    "empty.yaml": ("", "the file is empty"),
    "comments_only.yaml": ("# PIPELINE DEFINITION\n# nothing here\n---\n", "the file is empty"),
    "bad_platform_doc.yaml": (
        HEADER.format(why="the second document is a string")
        + yaml.safe_dump(BASE, sort_keys=True)
        + "---\njust a string\n",
        "YAML document 2 must be a mapping (a platform spec), got a string",
    ),
}


def main() -> None:
    """Write every case into ``broken/`` together with ``expected.json``."""
    OUT.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    for name, (why, substring, mutate) in SPEC_CASES.items():
        spec = copy.deepcopy(BASE)
        mutate(spec)
        text = HEADER.format(why=why) + yaml.safe_dump(spec, sort_keys=True)
        (OUT / f"{name}.yaml").write_text(text)
        expected[f"{name}.yaml"] = substring
    for file_name, (text, substring) in RAW_CASES.items():
        (OUT / file_name).write_text(text)
        expected[file_name] = substring
    with (OUT / "expected.json").open("w") as fh:
        json.dump(dict(sorted(expected.items())), fh, indent=2)
        fh.write("\n")


if __name__ == "__main__":
    main()
