"""Checks of the acceptance pipelines themselves, without a server: every one compiles, and
where ``kfp.local`` can run a pipeline (Python components, no loops, no branches: see the
DESIGN's notes on its limits) it produces the values the end-to-end tests expect. The
container script is run with the argv the placeholders must resolve to.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kfp import compiler, local

from tests.e2e.engine import pipelines as p

PIPELINES = {
    name: getattr(p, name)
    for name in sorted(dir(p))
    if name.endswith("_pipeline") and name not in ("inner_pipeline", "middle_pipeline")
}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_pipeline_compiles(name: str, tmp_path: Path) -> None:
    package = tmp_path / f"{name}.yaml"
    compiler.Compiler().compile(PIPELINES[name], str(package))
    documents = [d for d in yaml.safe_load_all(package.read_text()) if d]
    assert documents[0]["pipelineInfo"]["name"].startswith("engine-")
    assert documents[0]["deploymentSpec"]["executors"]


def test_timeout_pipeline_carries_the_task_timeout(tmp_path: Path) -> None:
    package = tmp_path / "timeout.yaml"
    compiler.Compiler().compile(p.timeout_pipeline, str(package))
    platform = list(yaml.safe_load_all(package.read_text()))[1]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-sleeper"]["activeDeadlineSeconds"] == str(p.TASK_TIMEOUT_SECONDS)


def test_container_script_writes_what_the_test_expects(tmp_path: Path) -> None:
    data, out, param = tmp_path / "in", tmp_path / "out", tmp_path / "param"
    data.write_text("seed-data")
    side_file = tmp_path / "with-optional.args"
    argv = ["a b", "21", str(data), str(out), str(param), "pre-a b-21-post"]
    argv += ["--optional", "given", "run-1", "shell-all"]
    subprocess.run(["sh", "-c", p._SHELL_SCRIPT, str(side_file), *argv], check=True)

    written = side_file.read_text().splitlines()
    assert [*written[:2], *written[5:]] == p.expected_shell_args("run-1", "shell-all", True)
    assert out.read_text() + f"|{param.read_text()}|42" == p.EXPECTED_CONTAINER_RESULT


def test_executor_io_script_answers_through_executor_output(tmp_path: Path) -> None:
    output_file = tmp_path / "executor_output.json"
    executor_input = {
        "inputs": {"parameterValues": {"side_dir": str(tmp_path), "count": 21}},
        "outputs": {"parameters": {"doubled": {"outputFile": str(tmp_path / "doubled")}}},
    }
    subprocess.run(
        ["python3", "-c", p._EXECUTOR_IO_SCRIPT, json.dumps(executor_input), str(output_file)],
        check=True,
    )
    assert json.loads(output_file.read_text()) == {"parameterValues": {"doubled": 42}}


# ---- kfp.local runs (each Python task costs ~0.6 s of interpreter start) -----------------


@pytest.fixture
def local_runner(tmp_path: Path) -> Iterator[Path]:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    side = tmp_path / "side"
    side.mkdir()
    yield side


@pytest.mark.slow
def test_local_parameters(local_runner: Path) -> None:
    task = p.parameters_pipeline(side_dir=str(local_runner), **p.PARAMETERS_ARGUMENTS)
    assert task.output == p.EXPECTED_SUMMARY
    p.check_received_parameters(local_runner)


@pytest.mark.slow
def test_local_artifacts(local_runner: Path) -> None:
    assert p.artifacts_pipeline(side_dir=str(local_runner), rows=3).output == "3:0.875"
    p.check_read_artifacts(local_runner)


@pytest.mark.slow
def test_local_nested(local_runner: Path) -> None:
    outputs = p.nested_pipeline(x=p.NESTED_X).outputs
    assert outputs["total"] == p.EXPECTED_NESTED_TOTAL
    assert outputs["text"] == p.EXPECTED_NESTED_TEXT


@pytest.mark.slow
def test_local_after_and_chains(local_runner: Path) -> None:
    p.after_pipeline(side_dir=str(local_runner))
    assert (local_runner / "order").read_text().split() == ["first", "second", "third"]
    assert p.caching_pipeline(side_dir=str(local_runner), x=10, y=5).output == 17
    (local_runner / "open").write_text("")
    assert p.retry_run_pipeline(side_dir=str(local_runner)).output == 4
    crash = p.crash_pipeline(side_dir=str(local_runner), pause=0.0)
    assert crash.output == p.CRASH_STEPS + 1
