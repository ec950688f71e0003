"""The shortest path a KFP user takes: healthz, experiment, upload, run, list."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).resolve().parents[1] / "pipelines" / "compiled"


def test_kfp_client_uploads_a_pipeline_and_runs_it(kfp_client, tmp_path) -> None:
    package = sorted(CORPUS.glob("*.yaml"))[0]
    experiment = kfp_client.create_experiment("smoke experiment")
    pipeline = kfp_client.upload_pipeline(str(package), pipeline_name="smoke/pipe line")
    versions = kfp_client.list_pipeline_versions(pipeline.pipeline_id)
    assert len(versions.pipeline_versions) == 1
    version = versions.pipeline_versions[0]

    result = kfp_client.run_pipeline(
        experiment_id=experiment.experiment_id,
        job_name="smoke run",
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
    )
    run = kfp_client.get_run(result.run_id)
    assert run.state == "PENDING"
    assert run.pipeline_version_reference.pipeline_version_id == version.pipeline_version_id

    listed = kfp_client.list_runs(experiment_id=experiment.experiment_id)
    assert [r.run_id for r in listed.runs] == [result.run_id]
    assert listed.total_size == 1
    assert kfp_client.get_pipeline_id("smoke/pipe line") == pipeline.pipeline_id
