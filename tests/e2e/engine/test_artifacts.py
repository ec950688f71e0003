"""Typed artifacts with metadata, packages_to_install, the importer, nested sub-pipelines."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import pytest

from tests.e2e.engine import pipelines as p
from tests.e2e.engine.support import (
    output_artifact,
    output_parameter,
    read_artifact,
    submit,
    task_named,
    wait_succeeded,
)

pytestmark = pytest.mark.e2e

SCHEMA_TITLES = {
    "dataset": "system.Dataset",
    "model": "system.Model",
    "metrics": "system.Metrics",
    "classification": "system.ClassificationMetrics",
    "html": "system.HTML",
    "markdown": "system.Markdown",
}


def test_typed_artifacts_are_written_read_downstream_and_served(
    kfp_client, api, server, side: Path
) -> None:
    run_id = submit(kfp_client, p.artifacts_pipeline, {"side_dir": str(side), "rows": 3})
    run = wait_succeeded(api, run_id)

    # Downstream saw the content and the metadata of every artifact.
    p.check_read_artifacts(side)
    assert output_parameter(task_named(run, "read-artifacts")) == "3:0.875"

    # The task details keep type and metadata; the read endpoint serves the bytes.
    writer = task_named(run, "write-artifacts")
    for name, title in SCHEMA_TITLES.items():
        artifact = output_artifact(writer, name)
        assert artifact["type"]["schemaTitle"] == title, (name, artifact)
        assert artifact["uri"], artifact
        if name in p.EXPECTED_ARTIFACT_METADATA:
            assert artifact["metadata"] == p.EXPECTED_ARTIFACT_METADATA[name], (name, artifact)
        if name in p.EXPECTED_ARTIFACT_CONTENT:
            data = read_artifact(server.url, run_id, writer["task_id"], name)
            assert data.decode() == p.EXPECTED_ARTIFACT_CONTENT[name], name
    confusion = output_artifact(writer, "classification")["metadata"]["confusionMatrix"]
    assert confusion == p.EXPECTED_CONFUSION_MATRIX
    # The reader's inputs point at the writer's outputs.
    reader = task_named(run, "read-artifacts")
    assert (reader.get("inputs") or {}).get("artifacts", {}).get("dataset", [{}])[0].get(
        "uri"
    ) == output_artifact(writer, "dataset")["uri"], reader.get("inputs")


def test_packages_to_install_run_in_their_own_environment_and_importer(
    kfp_client, api, side: Path, tmp_path: Path
) -> None:
    pinned = p.TABULATE_PIN.split("==")[1]
    servers_own = importlib.metadata.version("tabulate")
    assert servers_own != pinned, "the pin must differ from the server's copy to prove anything"
    imported = tmp_path / "imported.txt"
    imported.write_text("imported-content")
    run_id = submit(
        kfp_client,
        p.packages_importer_pipeline,
        {"side_dir": str(side), "data_uri": str(imported)},
    )
    run = wait_succeeded(api, run_id)

    package = json.loads((side / "package-one.json").read_text())
    assert package["version"] == pinned
    assert package["table"].splitlines()[1].split() == ["a", "1"]
    # Not the server's environment, and the server's own copy was left alone.
    assert Path(package["prefix"]).resolve() != Path(sys.prefix).resolve()
    assert importlib.metadata.version("tabulate") == servers_own
    assert output_parameter(task_named(run, "use-package")) == package["version"]
    # One environment per distinct requirement set, reused by every task that has it.
    again = json.loads((side / "package-two.json").read_text())
    assert again["prefix"] == package["prefix"], (package, again)

    reader = task_named(run, "read-imported")
    assert output_parameter(reader) == "imported-content|test-import"
    # The importer's artifact is the given URI, as is, with the metadata it was given.
    artifact = output_artifact(task_named(run, "importer"), "artifact")
    assert artifact["uri"] == str(imported), artifact
    assert artifact["metadata"] == {"source": "test-import"}, artifact


def test_nested_sub_pipelines_pass_parameters_and_artifacts_out(kfp_client, api) -> None:
    run_id = submit(kfp_client, p.nested_pipeline, {"x": p.NESTED_X})
    run = wait_succeeded(api, run_id)

    # The outer "add" is the only task of that name at the root; the inner ones are nested.
    adds = [t for t in run["run_details"]["task_details"] if t.get("display_name") == "add"]
    values = sorted(output_parameter(t) for t in adds)
    assert values == [105, 205, p.EXPECTED_NESTED_TOTAL], values
    root_add = [t for t in adds if output_parameter(t) == p.EXPECTED_NESTED_TOTAL]
    assert len(root_add) == 1
    assert output_parameter(task_named(run, "dataset-text")) == p.EXPECTED_NESTED_TEXT
    # Nested tasks hang under their sub-pipeline's DAG task, not beside the root "add".
    nested = [t for t in adds if output_parameter(t) != p.EXPECTED_NESTED_TOTAL]
    assert all(t.get("parent_task_id") for t in nested), nested
    assert {t["parent_task_id"] for t in nested}.isdisjoint({root_add[0].get("parent_task_id")}), (
        adds
    )
