"""ExecutorInput building and output reading, typed by components the real kfp compiler made."""

import json
from pathlib import Path
from typing import Any

import pytest
from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output, OutputPath

from api_server.backends.embedded.executor_input import (
    ExecutorOutputError,
    TaskOutputs,
    build_executor_input,
    read_executor_output,
)
from tests.kfp_specs import CompiledTask, compile_pipeline, compiled_task, executor_input_for

DATASET = {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}
MODEL = {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"}


@dsl.container_component
def typed_outputs(
    data: Input[Dataset],
    text: OutputPath(str),
    count: OutputPath(int),
    ratio: OutputPath(float),
    flag: OutputPath(bool),
    items: OutputPath(list),
    config: OutputPath(dict),
    model: Output[Model],
    scores: Output[Metrics],
) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image="busybox", command=["true"])


@dsl.pipeline(name="typed-outputs")
def typed_outputs_pipeline() -> None:
    data = dsl.importer(artifact_uri="/data/in.csv", artifact_class=Dataset)
    typed_outputs(data=data.output)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> CompiledTask:
    spec = compile_pipeline(typed_outputs_pipeline, tmp_path_factory.mktemp("spec"))
    return compiled_task(spec, "typed-outputs")


def _executor_input(task: CompiledTask, work: Path) -> dict[str, Any]:
    return executor_input_for(
        task,
        work,
        {"unused": None, "label": "x", "n": 3},
        {
            "data": [
                {"name": "data", "uri": "/data/in.csv", "metadata": {"rows": 2}, "type": DATASET}
            ]
        },
    )


def _write_parameter(executor_input: dict[str, Any], name: str, text: str) -> None:
    Path(executor_input["outputs"]["parameters"][name]["outputFile"]).write_text(text)


def _write_all_parameters(executor_input: dict[str, Any], **overrides: str) -> None:
    texts = {"text": "ok", "count": "1", "ratio": "0.5", "flag": "true", "items": "[]"}
    texts["config"] = "{}"
    for name, text in {**texts, **overrides}.items():
        _write_parameter(executor_input, name, text)


def test_executor_input_has_the_kfp_shape_and_its_folders(
    task: CompiledTask, tmp_path: Path
) -> None:
    executor_input = _executor_input(task, tmp_path)

    assert executor_input["inputs"]["parameterValues"] == {"label": "x", "n": 3}
    assert executor_input["inputs"]["artifacts"]["data"]["artifacts"][0]["metadata"] == {"rows": 2}
    outputs = executor_input["outputs"]
    assert outputs["outputFile"] == str(tmp_path / "executor_output.json")
    assert outputs["parameters"]["count"] == {"outputFile": str(tmp_path / "outputs" / "count")}
    assert outputs["artifacts"]["model"] == {
        "artifacts": [
            {
                "name": "model",
                "uri": str(tmp_path / "artifacts" / "model"),
                "metadata": {},
                "type": MODEL,
            }
        ]
    }
    assert (tmp_path / "outputs").is_dir() and (tmp_path / "artifacts").is_dir()
    json.dumps(executor_input)  # what {{$}} expands to must serialise


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("text", "ok\n", "ok\n"),  # strings are verbatim, as on a cluster
        ("text", "", ""),
        ("count", "3", 3),
        ("count", "3\n", 3),
        ("count", "-12", -12),
        ("ratio", "1.5", 1.5),
        ("ratio", "2", 2.0),
        ("flag", "True", True),
        ("flag", "false\n", False),
        ("items", '[1, "a", null]', [1, "a", None]),
        ("config", '{"a": {"b": [1]}}', {"a": {"b": [1]}}),
    ],
)
def test_output_parameter_files_are_typed_by_the_component(
    task: CompiledTask, tmp_path: Path, name: str, text: str, expected: Any
) -> None:
    executor_input = _executor_input(task, tmp_path)
    _write_all_parameters(executor_input, **{name: text})

    outputs = read_executor_output(executor_input, tmp_path, component=task.component)

    assert outputs.parameters[name] == expected
    assert type(outputs.parameters[name]) is type(expected)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("count", "3.5", "'count' in"),
        ("count", "three", "not valid JSON"),
        ("ratio", '"1.5"', "expected NUMBER_DOUBLE"),
        ("flag", "yes", "expected true or false"),
        ("items", '{"a": 1}', "expected LIST"),
        ("config", "[1]", "expected STRUCT"),
    ],
)
def test_malformed_output_parameter_file_is_a_clear_error(
    task: CompiledTask, tmp_path: Path, name: str, text: str, message: str
) -> None:
    executor_input = _executor_input(task, tmp_path)
    _write_all_parameters(executor_input, **{name: text})

    with pytest.raises(ExecutorOutputError) as excinfo:
        read_executor_output(executor_input, tmp_path, component=task.component)
    assert message in str(excinfo.value)
    assert repr(name) in str(excinfo.value)


def test_executor_output_values_win_over_files_and_are_typed(
    task: CompiledTask, tmp_path: Path
) -> None:
    executor_input = _executor_input(task, tmp_path)
    _write_all_parameters(executor_input, count="1")
    (tmp_path / "executor_output.json").write_text(
        json.dumps({"parameterValues": {"count": 7.0, "ratio": 3, "undeclared": 1}})
    )

    outputs = read_executor_output(executor_input, tmp_path, component=task.component)

    assert outputs.parameters["count"] == 7 and isinstance(outputs.parameters["count"], int)
    assert outputs.parameters["ratio"] == 3.0 and isinstance(outputs.parameters["ratio"], float)
    assert "undeclared" not in outputs.parameters


def test_missing_output_parameter_names_it(task: CompiledTask, tmp_path: Path) -> None:
    executor_input = _executor_input(task, tmp_path)
    _write_all_parameters(executor_input)
    Path(executor_input["outputs"]["parameters"]["ratio"]["outputFile"]).unlink()

    with pytest.raises(ExecutorOutputError, match="'ratio' was not produced"):
        read_executor_output(executor_input, tmp_path, component=task.component)


def test_artifacts_keep_their_type_and_take_reported_metadata_and_uri(
    task: CompiledTask, tmp_path: Path
) -> None:
    executor_input = _executor_input(task, tmp_path)
    _write_all_parameters(executor_input)
    moved = str(tmp_path / "elsewhere" / "model")
    (tmp_path / "executor_output.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "model": {
                        "artifacts": [{"name": "model", "uri": moved, "metadata": {"acc": 0.9}}]
                    }
                }
            }
        )
    )

    outputs = read_executor_output(executor_input, tmp_path, component=task.component)

    assert outputs.artifacts["model"] == [
        {"name": "model", "uri": moved, "type": MODEL, "metadata": {"acc": 0.9}}
    ]
    assert outputs.artifacts["scores"] == [
        {
            "name": "scores",
            "uri": str(tmp_path / "artifacts" / "scores"),
            "type": {"schemaTitle": "system.Metrics", "schemaVersion": "0.0.1"},
            "metadata": {},
        }
    ]
    assert outputs.to_json()["parameters"] == outputs.parameters


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"parameterValues": [1]}', "'parameterValues' must be an object"),
        ('{"parameterValues": {"count": "many"}}', "'count' in"),
        ('{"parameterValues": {"flag": 1}}', "expected BOOLEAN"),
        ('{"artifacts": []}', "'artifacts' must be an object"),
        ('{"artifacts": {"model": [1]}}', "artifacts['model'] must be an object"),
        ('{"artifacts": {"model": {"artifacts": [1]}}}', "artifacts[0] must be an object"),
        ('{"artifacts": {"model": {"artifacts": [{"uri": 5}]}}}', "uri must be a string"),
        ('{"artifacts": {"model": {"artifacts": [{"metadata": 5}]}}}', "metadata must be"),
    ],
)
def test_malformed_executor_output_is_a_clear_error(
    task: CompiledTask, tmp_path: Path, document: str, message: str
) -> None:
    executor_input = _executor_input(task, tmp_path)
    _write_all_parameters(executor_input)
    (tmp_path / "executor_output.json").write_text(document)

    with pytest.raises(ExecutorOutputError) as excinfo:
        read_executor_output(executor_input, tmp_path, component=task.component)
    assert message in str(excinfo.value)
    assert "executor_output.json" in str(excinfo.value)


def test_task_without_outputs_reads_back_empty(tmp_path: Path) -> None:
    executor_input = build_executor_input(
        parameters={},
        input_artifacts={},
        output_parameters=[],
        output_artifacts={},
        output_file=str(tmp_path / "executor_output.json"),
        work_dir=tmp_path,
    )

    assert read_executor_output(executor_input, tmp_path) == TaskOutputs()


def test_output_names_that_are_not_file_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not usable as a file name"):
        build_executor_input(
            parameters={},
            input_artifacts={},
            output_parameters=["../escape"],
            output_artifacts={},
            output_file=str(tmp_path / "executor_output.json"),
            work_dir=tmp_path,
        )
