"""The cache key: stable, and changed by exactly what decides a task's result.

No ``from __future__ import annotations`` here: kfp reads the component's annotations.
"""

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl

from cache_webhook import KEY_FORMAT, cache_key, canonical_cache_document

COMPONENT: dict[str, Any] = {
    "executorLabel": "exec-train",
    "inputDefinitions": {
        "parameters": {"epochs": {"parameterType": "NUMBER_INTEGER"}},
        "artifacts": {"data": {"artifactType": {"schemaTitle": "system.Dataset"}}},
    },
    "outputDefinitions": {
        "parameters": {"loss": {"parameterType": "NUMBER_DOUBLE"}},
        "artifacts": {
            "model": {"artifactType": {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"}}
        },
    },
}
CONTAINER: dict[str, Any] = {
    "image": "python:3.11",
    "command": ["python", "-m", "train"],
    "args": ["--epochs", "{{$.inputs.parameters['epochs']}}", "--executor_input", "{{$}}"],
}
DATASET = {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}
INPUTS: dict[str, Any] = {
    "parameters": {"epochs": 3, "cfg": {"lr": 0.5, "layers": [1, 2]}, "tag": "x"},
    "artifacts": {
        "data": [{"name": "data", "uri": "/root/run-1/load/data", "type": DATASET, "metadata": {}}]
    },
}


def key(component: Any = None, container: Any = None, inputs: Any = None, **kw: Any) -> str:
    return cache_key(component or COMPONENT, container or CONTAINER, inputs or INPUTS, **kw)


# What is hashed, spelled out: stored entries are found only while this stays the same, so
# a change here must come with a new KEY_FORMAT.
EXPECTED_DOCUMENT = (
    '{"containerSpec":{"args":["--epochs","{{$.inputs.parameters[\'epochs\']}}",'
    '"--executor_input","{{$}}"],"command":["python","-m","train"],"image":"python:3.11"},'
    '"format":"headrace.cache-key/1",'
    '"inputArtifacts":{"data":[{"type":{"schemaTitle":"system.Dataset","schemaVersion":"0.0.1"},'
    '"uri":"/root/run-1/load/data"}]},'
    '"inputParameterValues":{"cfg":{"layers":[1,2],"lr":0.5},"epochs":3,"tag":"x"},'
    '"outputArtifactsSpec":{"model":{"isArtifactList":false,'
    '"type":{"schemaTitle":"system.Model","schemaVersion":"0.0.1"}}},'
    '"outputParametersSpec":{"loss":"NUMBER_DOUBLE"}}'
)


def test_the_key_is_the_sha256_of_the_canonical_document() -> None:
    document = canonical_cache_document(COMPONENT, CONTAINER, INPUTS)
    assert json.dumps(document, sort_keys=True, separators=(",", ":")) == EXPECTED_DOCUMENT
    assert key() == hashlib.sha256(EXPECTED_DOCUMENT.encode()).hexdigest()
    assert document["format"] == KEY_FORMAT


def test_the_key_ignores_ordering_and_representation() -> None:
    reordered = json.loads(json.dumps(INPUTS))
    reordered["parameters"] = dict(reversed(list(reordered["parameters"].items())))
    reordered["parameters"]["epochs"] = 3.0  # a number that came back through JSON
    reordered["parameters"]["cfg"] = {"layers": [1.0, 2], "lr": 0.5}
    # metadata and the artifact's display name are results, not identity
    reordered["artifacts"]["data"][0].update(metadata={"rows": 10}, name="other")
    assert key(inputs=reordered) == key()


def test_executor_input_shaped_inputs_give_the_same_key() -> None:
    executor_inputs = {
        "parameterValues": INPUTS["parameters"],
        "artifacts": {"data": {"artifacts": INPUTS["artifacts"]["data"]}},
    }
    assert key(inputs=executor_inputs) == key()


def _changed(path: str, value: Any) -> tuple[Any, Any, Any]:
    component, container, inputs = (copy.deepcopy(x) for x in (COMPONENT, CONTAINER, INPUTS))
    target: Any = {"component": component, "container": container, "inputs": inputs}
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return component, container, inputs


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("inputs.parameters.epochs", 4),
        ("inputs.parameters.tag", "y"),
        ("inputs.parameters.cfg", {"lr": 0.25, "layers": [1, 2]}),
        ("inputs.parameters.extra", None),
        ("inputs.artifacts.data.0.uri", "/root/run-2/load/data"),
        ("inputs.artifacts.data.0.type", {"schemaTitle": "system.Artifact"}),
        ("component.outputDefinitions.parameters.loss", {"parameterType": "STRING"}),
        ("component.outputDefinitions.parameters.acc", {"parameterType": "NUMBER_DOUBLE"}),
        ("component.outputDefinitions.artifacts.model", {"artifactType": DATASET}),
        ("component.outputDefinitions.artifacts.model.isArtifactList", True),
        ("container.image", "python:3.12"),
        ("container.command", ["python3", "-m", "train"]),
        ("container.args.0", "--steps"),
    ],
)
def test_every_ingredient_changes_the_key(path: str, value: Any) -> None:
    component, container, inputs = _changed(path, value)
    assert cache_key(component, container, inputs) != key()


def test_bools_are_not_numbers() -> None:
    ones = {"parameters": {"flag": 1}}
    trues = {"parameters": {"flag": True}}
    assert key(inputs=ones) != key(inputs=trues)


def test_an_override_replaces_the_computed_key() -> None:
    overridden = key(override="my-dataset-v1")
    assert overridden != key()
    assert len(overridden) == 64
    # Whatever the inputs and container, the same override is the same key.
    other = cache_key({}, {"image": "busybox"}, {"parameters": {"x": 1}}, override="my-dataset-v1")
    assert other == overridden
    assert key(override="my-dataset-v2") != overridden
    assert key(override="") == key()  # kfp leaves cacheKey empty when not set


def test_values_that_are_not_json_are_refused() -> None:
    with pytest.raises(TypeError, match="input value of type bytes is not JSON"):
        key(inputs={"parameters": {"raw": b"x"}})


@dsl.component(base_image="python:3.11")
def _train(epochs: int, data: dsl.Input[dsl.Dataset], model: dsl.Output[dsl.Model]) -> float:
    return 0.5


@dsl.pipeline
def _training(epochs: int = 2) -> None:
    importer = dsl.importer(artifact_uri="/data/set", artifact_class=dsl.Dataset)
    _train(epochs=epochs, data=importer.output).set_caching_options(True, cache_key="pinned")
    _train(epochs=epochs, data=importer.output).set_caching_options(False)


def test_a_compiled_component_and_its_task_cache_key(tmp_path: Path) -> None:
    path = tmp_path / "training.yaml"
    compiler.Compiler().compile(_training, str(path))
    spec = yaml.safe_load(path.read_text())
    component = spec["components"]["comp-train"]
    container = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    tasks = spec["root"]["dag"]["tasks"]
    # set_caching_options(cache_key=...) is emitted as the task's cachingOptions.cacheKey.
    assert tasks["train"]["cachingOptions"] == {"cacheKey": "pinned", "enableCache": True}
    assert "cacheKey" not in tasks["train-2"].get("cachingOptions", {})

    inputs = {
        "parameters": {"epochs": 2},
        "artifacts": {"data": [{"uri": "/data/set", "type": DATASET}]},
    }
    document = canonical_cache_document(component, container, inputs)
    assert document["outputParametersSpec"] == {"Output": "NUMBER_DOUBLE"}
    assert document["outputArtifactsSpec"]["model"]["type"]["schemaTitle"] == "system.Model"
    assert document["containerSpec"]["image"] == "python:3.11"
    assert "kfp.dsl.executor_main" in " ".join(document["containerSpec"]["command"])

    computed = cache_key(component, container, inputs)
    assert computed == cache_key(component, container, copy.deepcopy(inputs))
    assert computed != cache_key(component, container, {**inputs, "parameters": {"epochs": 3}})
    override = tasks["train"]["cachingOptions"]["cacheKey"]
    assert cache_key(component, container, inputs, override=override) != computed
