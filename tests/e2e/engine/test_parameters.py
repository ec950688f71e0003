"""Parameters of every type through Python components, and every container placeholder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.engine import pipelines as p
from tests.e2e.engine.support import (
    output_artifact,
    output_parameter,
    read_artifact,
    read_log,
    submit,
    task_named,
    wait_succeeded,
)

pytestmark = pytest.mark.e2e


def test_python_parameters_of_every_type_in_and_out(kfp_client, api, server, side: Path) -> None:
    run_id = submit(
        kfp_client, p.parameters_pipeline, {"side_dir": str(side), **p.PARAMETERS_ARGUMENTS}
    )
    run = wait_succeeded(api, run_id)

    # What the SDK user sees.
    assert kfp_client.get_run(run_id).state == "SUCCEEDED"

    # Outputs of every type, as the engine recorded them.
    made = task_named(run, "make-values")
    for name, value in p.EXPECTED_MADE.items():
        assert output_parameter(made, name) == value, name
    assert output_parameter(task_named(run, "consume-values")) == p.EXPECTED_SUMMARY

    # What the components received: task outputs and pipeline arguments, with their types.
    p.check_received_parameters(side)

    # The task's log holds what it printed.
    consumer = task_named(run, "consume-pipeline-inputs")
    assert "consume-values saw héllo wörld for from-pipeline" in read_log(
        server.url, run_id, consumer["task_id"]
    )


def test_container_placeholders(kfp_client, api, server, side: Path) -> None:
    run_id = submit(
        kfp_client, p.container_pipeline, {"side_dir": str(side), **p.CONTAINER_ARGUMENTS}
    )
    run = wait_succeeded(api, run_id)

    for tag, task_key, optional in (
        ("with-optional", "shell-all", True),
        ("without-optional", "shell-all-2", False),
    ):
        argv = (side / f"{tag}.args").read_text().splitlines()
        # argv: text, number, input path, output path, output parameter file, the rest.
        input_path, output_path, parameter_file = argv[2:5]
        assert [*argv[:2], *argv[5:]] == p.expected_shell_args(run_id, task_key, optional), argv
        for path in (input_path, output_path, parameter_file):
            assert Path(path).is_absolute(), argv
        assert Path(input_path).read_text() == "seed-data"

    shell = task_named(run, "shell-all")
    assert output_parameter(shell, "out_text") == "a b:21"
    artifact = output_artifact(shell, "out_data")
    assert artifact["type"]["schemaTitle"] == "system.Dataset", artifact
    content = read_artifact(server.url, run_id, shell["task_id"], "out_data")
    assert content.decode() == "seed-data + a b x 21"

    # {{$}} expanded to the ExecutorInput; executor_output.json carried the parameter back.
    executor_input = json.loads((side / "executor-input.json").read_text())
    assert executor_input["inputs"]["parameterValues"] == {"side_dir": str(side), "count": 21}
    assert "doubled" in executor_input["outputs"]["parameters"]
    assert output_parameter(task_named(run, "executor-io"), "doubled") == 42

    final = task_named(run, "check-container-outputs")
    assert output_parameter(final) == p.EXPECTED_CONTAINER_RESULT
