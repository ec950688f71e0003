"""Placeholder resolution on container specs compiled by the real kfp compiler (2.16.1)."""

import json
from pathlib import Path
from typing import Any, Optional

import pytest
from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output, OutputPath

from api_server.backends.embedded.placeholders import (
    PipelineContext,
    PlaceholderError,
    format_parameter,
    local_path_for_uri,
    resolve_command,
    resolve_executor_input,
)
from tests.kfp_specs import CompiledTask, compile_pipeline, compiled_task, executor_input_for

DATASET = {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}
CONTEXT = PipelineContext(
    job_name="nightly",
    job_id="run-1",
    task_name="step",
    task_id="task-9",
    pipeline_root="/srv/root",
    job_resource_name="runs/run-1",
    create_time_utc="2026-01-02T03:04:05Z",
    schedule_time_utc="2026-01-02T03:00:00Z",
)


@dsl.container_component
def values(s: str, i: int, f: float, b: bool, items: list, cfg: dict) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image="busybox", command=["echo"], args=[s, i, f, b, items, cfg])


@dsl.container_component
def artifacts(data: Input[Dataset], model: Output[Model], n: OutputPath(int)) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox",
        command=["sh", "-c", 'cat "$0" > "$1"'],
        args=[
            data.path,
            model.path,
            data.uri,
            data.metadata,
            model.uri,
            model.metadata,
            n,
            dsl.ConcatPlaceholder(["--in=", data.path, ",out=", model.uri]),
        ],
    )


@dsl.container_component
def run_values(
    job: str = dsl.PIPELINE_JOB_NAME_PLACEHOLDER, mode: str = "fast"
) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox",
        command=["echo", dsl.PIPELINE_ROOT_PLACEHOLDER],
        args=[
            job,
            mode,
            dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            dsl.PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER,
            dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
            dsl.PIPELINE_TASK_ID_PLACEHOLDER,
            dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER,
            dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
            dsl.PIPELINE_TASK_EXECUTOR_OUTPUT_PATH_PLACEHOLDER,
            dsl.ConcatPlaceholder(
                [dsl.PIPELINE_JOB_NAME_PLACEHOLDER, "/", dsl.PIPELINE_TASK_NAME_PLACEHOLDER]
            ),
        ],
    )


@dsl.container_component
def optional_flags(
    name: str,
    data: Input[Dataset] = None,
    opt: Optional[str] = None,  # noqa: UP045 (kfp reads typing.Optional, not `str | None`)
    level: Optional[int] = None,  # noqa: UP045
) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox",
        command=["prog"],
        args=[
            dsl.IfPresentPlaceholder(input_name="opt", then=["--opt", opt, "--again"]),
            dsl.IfPresentPlaceholder(
                input_name="level",
                then=[dsl.ConcatPlaceholder(["--level=", level])],
                else_=[
                    dsl.IfPresentPlaceholder(
                        input_name="data", then=["--data", data.path], else_=["--no-data"]
                    )
                ],
            ),
            dsl.ConcatPlaceholder(
                ["name=", name, dsl.IfPresentPlaceholder(input_name="opt", then=opt, else_="-")]
            ),
            "--end",
        ],
    )


@dsl.component
def python_step(x: int) -> int:
    return x + 1


@dsl.pipeline(name="placeholders")
def placeholder_pipeline() -> None:
    data = dsl.importer(artifact_uri="/data/in.csv", artifact_class=Dataset)
    values(s="a", i=1, f=1.0, b=True, items=[], cfg={})
    artifacts(data=data.output)
    run_values()
    optional_flags(name="n")
    python_step(x=1)


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compile_pipeline(placeholder_pipeline, tmp_path_factory.mktemp("spec"))


def _resolve(
    task: CompiledTask,
    work: Path,
    parameters: dict[str, Any],
    input_artifacts: dict[str, list[dict[str, Any]]] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    executor_input = executor_input_for(task, work, parameters, input_artifacts)
    return resolve_command(task.container, executor_input, task.component, pipeline=CONTEXT), (
        executor_input
    )


def _dataset(uri: str, **metadata: Any) -> dict[str, list[dict[str, Any]]]:
    return {"data": [{"name": "data", "uri": uri, "metadata": metadata, "type": DATASET}]}


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {
                "s": "hello world",
                "i": 3,
                "f": 1.5,
                "b": True,
                "items": [1, "a"],
                "cfg": {"k": [1, 2]},
            },
            ["hello world", "3", "1.5", "true", '[1, "a"]', '{"k": [1, 2]}'],
        ),
        (  # protobuf carries integers as doubles
            {"s": "", "i": 3.0, "f": 2.0, "b": False, "items": [], "cfg": {}},
            ["", "3", "2", "false", "[]", "{}"],
        ),
        (
            {
                "s": "{{not a placeholder}",
                "i": -1,
                "f": 0.1,
                "b": True,
                "items": [{}],
                "cfg": {"a": None},
            },
            ["{{not a placeholder}", "-1", "0.1", "true", "[{}]", '{"a": null}'],
        ),
    ],
)
def test_input_parameters_are_strings_raw_and_json_otherwise(
    spec: dict[str, Any], tmp_path: Path, parameters: dict[str, Any], expected: list[str]
) -> None:
    argv, _ = _resolve(compiled_task(spec, "values"), tmp_path, parameters)
    assert argv == ["echo", *expected]


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("/data/in.csv", "/data/in.csv"),
        ("file:///data/in.csv", "/data/in.csv"),
        ("s3://bucket/key/in.csv", "/s3/bucket/key/in.csv"),
        ("minio://bucket/in.csv", "/minio/bucket/in.csv"),
        ("gs://bucket/in.csv", "/gcs/bucket/in.csv"),
    ],
)
def test_artifact_paths_uris_metadata_and_output_files(
    spec: dict[str, Any], tmp_path: Path, uri: str, path: str
) -> None:
    argv, executor_input = _resolve(
        compiled_task(spec, "artifacts"), tmp_path, {}, _dataset(uri, rows=2)
    )
    model = str(tmp_path / "artifacts" / "model")
    assert argv == [
        "sh",
        "-c",
        'cat "$0" > "$1"',
        path,
        model,
        uri,
        '{"rows": 2}',
        model,
        "{}",
        executor_input["outputs"]["parameters"]["n"]["outputFile"],
        f"--in={path},out={model}",
    ]


def test_run_level_placeholders_and_defaults(spec: dict[str, Any], tmp_path: Path) -> None:
    argv, _ = _resolve(compiled_task(spec, "run-values"), tmp_path, {})
    assert argv == [
        "echo",
        "/srv/root",
        "nightly",  # the input's default is itself a placeholder
        "fast",
        "nightly",
        "runs/run-1",
        "run-1",
        "step",
        "task-9",
        "2026-01-02T03:04:05Z",
        "2026-01-02T03:00:00Z",
        str(tmp_path / "executor_output.json"),
        "nightly/step",
    ]


@pytest.mark.parametrize(
    ("parameters", "artifacts", "expected"),
    [
        ({"name": "n"}, None, ["--no-data", "name=n-", "--end"]),
        (
            {"name": "n", "opt": "o"},
            None,
            ["--opt", "o", "--again", "--no-data", "name=no", "--end"],
        ),
        ({"name": "n", "level": 2}, None, ["--level=2", "name=n-", "--end"]),
        ({"name": "n", "opt": None}, _dataset("/d"), ["--data", "/d", "name=n-", "--end"]),
        ({"name": "n", "opt": ""}, None, ["--opt", "", "--again", "--no-data", "name=n", "--end"]),
    ],
)
def test_if_present_expands_to_zero_or_more_arguments(
    spec: dict[str, Any],
    tmp_path: Path,
    parameters: dict[str, Any],
    artifacts: dict[str, list[dict[str, Any]]] | None,
    expected: list[str],
) -> None:
    argv, _ = _resolve(compiled_task(spec, "optional-flags"), tmp_path, parameters, artifacts)
    assert argv == ["prog", *expected]


def test_executor_input_placeholder_is_the_resolved_executor_input(
    spec: dict[str, Any], tmp_path: Path
) -> None:
    task = compiled_task(spec, "python-step")
    argv, executor_input = _resolve(task, tmp_path, {"x": 41})

    assert argv[:3] == task.container["command"][:3]  # the install preamble is not touched
    passed = json.loads(argv[argv.index("--executor_input") + 1])
    assert passed == executor_input
    assert passed["inputs"]["parameterValues"] == {"x": 41}
    assert argv[-2:] == ["--function_to_execute", "python_step"]


def test_references_inside_parameter_values_are_resolved() -> None:
    """An f-string argument compiles to a value that refers to another input."""
    executor_input = {
        "inputs": {
            "parameterValues": {
                "pipelinechannel--up-Output": 7,
                "text": "{{$.inputs.parameters['pipelinechannel--up-Output']}}"
                "-of-{{$.pipeline_job_name}}",
            }
        },
        "outputs": {"outputFile": "/w/executor_output.json"},
    }
    component = {"inputDefinitions": {"parameters": {"text": {"parameterType": "STRING"}}}}
    container = {"command": ["echo"], "args": ["{{$.inputs.parameters['text']}}", "{{$}}"]}

    argv = resolve_command(container, executor_input, component, pipeline=CONTEXT)

    assert argv[1] == "7-of-nightly"
    assert json.loads(argv[2])["inputs"]["parameterValues"]["text"] == "7-of-nightly"
    resolved = resolve_executor_input(executor_input, component, pipeline=CONTEXT)
    assert resolved["inputs"]["parameterValues"]["text"] == "7-of-nightly"
    assert executor_input["inputs"]["parameterValues"]["text"].startswith("{{$")  # not mutated


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["{{$.inputs.parameters['x'].json_escape[0]}}"],
            "unknown placeholder {{$.inputs.parameters['x'].json_escape[0]}}",
        ),
        (["--flag={{$.bogus}}"], "container.args[0]: unknown placeholder {{$.bogus}}"),
        (["{{$.inputs.parameters['missing']}}"], "{{$.inputs.parameters['missing']}} has no value"),
        (
            ["{{$.inputs.artifacts['none'].path}}"],
            "{{$.inputs.artifacts['none'].path}} has no value",
        ),
        (["{{$.outputs.parameters['none'].output_file}}"], "has no value"),
        (["{{$.workspace_path}}"], "{{$.workspace_path}}: not available"),
        (['{"Concat": ["a", '], "malformed structured placeholder"),
        (['{"Concat": "a"}'], "Concat must hold a list"),
        (['{"IfPresent": {"Then": ["a"]}}'], "needs an InputName"),
        (['{"IfPresent": {"InputName": "zzz", "Then": ["a"]}}'], "'zzz' is not an input"),
        (['{"Concat": [{"IfPresent": {"InputName": "x", "Then": "{{$.nope}}"}}]}'], "{{$.nope}}"),
    ],
)
def test_unresolvable_placeholders_are_named(args: list[str], message: str) -> None:
    executor_input = {
        "inputs": {"parameterValues": {"x": 1}},
        "outputs": {"outputFile": "/w/executor_output.json"},
    }
    component = {"inputDefinitions": {"parameters": {"x": {"parameterType": "NUMBER_INTEGER"}}}}

    with pytest.raises(PlaceholderError) as excinfo:
        resolve_command(
            {"command": ["prog"], "args": args}, executor_input, component, pipeline=CONTEXT
        )
    assert message in str(excinfo.value)


def test_helpers_format_values_and_paths() -> None:
    assert [format_parameter(v) for v in ("x", 2, 2.0, 2.5, True, None)] == [
        "x",
        "2",
        "2",
        "2.5",
        "true",
        "null",
    ]
    with pytest.raises(PlaceholderError, match="has no local path"):
        local_path_for_uri("http://example.test/x")
