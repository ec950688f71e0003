"""One task end to end, with the engine's own parts and nothing else: compile a pipeline with
the real kfp compiler, build the ExecutorInput, resolve the placeholders, prepare the Python
environment, launch the process, read its typed outputs back."""

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kfp import dsl
from kfp.dsl import Dataset, Input, Output, OutputPath

from api_server.backends.embedded.environments import Environments
from api_server.backends.embedded.executor_input import TaskOutputs, read_executor_output
from api_server.backends.embedded.launcher import ProcessLauncher
from api_server.backends.embedded.placeholders import PipelineContext, resolve_command
from domain.task_logs import RunLog, read_stream
from tests.kfp_specs import CompiledTask, compile_pipeline, compiled_task, executor_input_for

DATASET = {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}


@dsl.component
def summarize(
    numbers: list,
    scale: float,
    label: str,
    strict: bool,
    options: dict,
    data: Input[Dataset],
    report: Output[Dataset],
    note: OutputPath(str),
) -> NamedTuple(
    "Summary",
    [("total", int), ("mean", float), ("name", str), ("ok", bool), ("items", list), ("info", dict)],
):
    import os
    from collections import namedtuple

    with open(data.path) as handle:
        lines = handle.read().split()
    values = [int(n) * scale for n in numbers] + [float(v) for v in lines]
    with open(report.path, "w") as handle:
        handle.write(f"{label}: {sum(values)}\n")
    report.metadata["rows"] = len(values)
    with open(note, "w") as handle:
        handle.write(f"read {os.path.basename(data.path)}")
    print("summarized", len(values), "values")
    summary = namedtuple("Summary", ["total", "mean", "name", "ok", "items", "info"])
    return summary(
        total=int(sum(values)),
        mean=sum(values) / len(values),
        name=label.upper(),
        ok=not strict,
        items=sorted(values),
        info={"options": options, "count": len(values)},
    )


@dsl.container_component
def count_words(
    text: Input[Dataset], total: OutputPath(int), header: str = ""
) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["sh", "-c", 'wc -w < "$0" | tr -d " " > "$1"; shift; echo "flags: $*"'],
        args=[
            text.path,
            total,
            dsl.IfPresentPlaceholder(
                input_name="header", then=["--header", header], else_=["--no-header"]
            ),
            dsl.ConcatPlaceholder(["--task=", dsl.PIPELINE_TASK_NAME_PLACEHOLDER]),
        ],
    )


@dsl.pipeline(name="task-execution")
def task_execution(numbers: list = [1, 2], label: str = "sum") -> None:  # noqa: B006
    data = dsl.importer(artifact_uri="/placeholder", artifact_class=Dataset)
    summarize(
        numbers=numbers, scale=0.5, label=label, strict=False, options={"a": 1}, data=data.output
    )
    count_words(text=data.output, header="lines")


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compile_pipeline(task_execution, tmp_path_factory.mktemp("spec"))


def _run_task(
    task: CompiledTask,
    work: Path,
    environments: Environments,
    parameters: dict[str, Any],
    input_artifacts: dict[str, list[dict[str, Any]]],
) -> tuple[int | None, TaskOutputs, str]:
    """What the engine does for one task attempt, in order."""
    executor_input = executor_input_for(task, work, parameters, input_artifacts)
    prepared = environments.prepare(task.container)
    context = PipelineContext(
        job_name="task-execution", job_id="run-1", task_name=task.name, task_id="t-1",
        pipeline_root=str(work / "artifacts"),
    )  # fmt: skip
    argv = resolve_command(
        prepared.container_for(task.container), executor_input, task.component, pipeline=context
    )
    run_log = RunLog(work / "logs" / "tasks.log")
    process = ProcessLauncher().start(
        argv, env=prepared.env, cwd=work, output=run_log.output("t-1")
    )
    code = process.wait(timeout=120)
    if code is None:
        process.kill()
    log = read_stream(run_log.path, "t-1")[0].decode()
    if code != 0:
        return code, TaskOutputs(), log
    return code, read_executor_output(executor_input, work, component=task.component), log


def test_python_component_runs_and_returns_typed_outputs(
    spec: dict[str, Any], environments: Environments, tmp_path: Path
) -> None:
    data = tmp_path / "inputs" / "data.txt"
    data.parent.mkdir()
    data.write_text("4\n5.5\n")
    task = compiled_task(spec, "summarize")

    code, outputs, log = _run_task(
        task,
        tmp_path / "work",
        environments,
        {"numbers": [1, 2], "scale": 0.5, "label": "sum", "strict": False, "options": {"a": 1}},
        {"data": [{"name": "data", "uri": str(data), "metadata": {}, "type": DATASET}]},
    )

    assert code == 0, log
    assert "summarized 4 values" in log
    assert outputs.parameters == {
        "total": 11,
        "mean": 2.75,
        "name": "SUM",
        "ok": True,
        "items": [0.5, 1.0, 4.0, 5.5],
        "info": {"options": {"a": 1}, "count": 4},
        "note": "read data.txt",
    }
    assert type(outputs.parameters["total"]) is int
    report_path = tmp_path / "work" / "artifacts" / "report"
    assert outputs.artifacts["report"] == [
        {"name": "report", "uri": str(report_path), "type": DATASET, "metadata": {"rows": 4}}
    ]
    assert report_path.read_text() == "sum: 11.0\n"
    assert json.loads((tmp_path / "work" / "executor_output.json").read_text())


def test_failing_python_component_exits_non_zero_with_its_traceback(
    spec: dict[str, Any], environments: Environments, tmp_path: Path
) -> None:
    task = compiled_task(spec, "summarize")
    missing = str(tmp_path / "no-such-file")

    code, _, log = _run_task(
        task,
        tmp_path / "work",
        environments,
        {"numbers": [1], "scale": 1.0, "label": "x", "strict": True, "options": {}},
        {"data": [{"name": "data", "uri": missing, "metadata": {}, "type": DATASET}]},
    )

    assert code == 1
    assert "FileNotFoundError" in log and "no-such-file" in log


def test_container_component_returns_typed_output_from_its_file(
    spec: dict[str, Any], environments: Environments, tmp_path: Path
) -> None:
    text = tmp_path / "text.txt"
    text.write_text("one two three\nfour\n")
    task = compiled_task(spec, "count-words")

    code, outputs, log = _run_task(
        task,
        tmp_path / "work",
        environments,
        {"header": "lines"},
        {"text": [{"name": "text", "uri": str(text), "metadata": {}, "type": DATASET}]},
    )

    assert code == 0, log
    assert outputs.parameters == {"total": 4}
    assert log == "flags: --header lines --task=count-words\n"
