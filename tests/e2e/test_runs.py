"""Runs through kfp.Client: every way to submit one, parameters, and the run lifecycle."""

# No "from __future__ import annotations": kfp reads the component annotations at runtime.

from datetime import datetime
from pathlib import Path

import pytest
from kfp import compiler, dsl
from kfp_server_api import ApiException

from tests.e2e.support import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    api_error,
    assert_error,
    corpus,
    corpus_documents,
    parse_rfc3339,
    unique,
)

pytestmark = pytest.mark.e2e


@dsl.component(base_image="python:3.11-slim")
def repeat(text: str, times: int) -> str:
    return text * times


@dsl.pipeline(name="e2e-repeat", description="one required and one typed parameter")
def repeat_pipeline(message: str, times: int = 2, ratio: float = 0.5, loud: bool = False):
    repeat(text=message, times=times)


@pytest.fixture(scope="module")
def repeat_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("packages") / "repeat.yaml"
    compiler.Compiler().compile(repeat_pipeline, str(path))
    return path


@pytest.fixture(scope="module")
def experiment_id(kfp_client) -> str:
    return kfp_client.create_experiment(unique("runs exp")).experiment_id


@pytest.fixture(scope="module")
def scalar_version(kfp_client) -> tuple[str, str]:
    pipeline = kfp_client.upload_pipeline(
        str(corpus("scalar_params")), pipeline_name=unique("runs scalar")
    )
    versions = kfp_client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    return pipeline.pipeline_id, versions[0].pipeline_version_id


def _pending_run(kfp_client, experiment_id: str, name: str = "lifecycle") -> str:
    return kfp_client.run_pipeline(
        experiment_id=experiment_id, job_name=name, pipeline_package_path=str(corpus("minimal"))
    ).run_id


def _states(run) -> list[str]:
    return [s.state for s in run.state_history or []]


def test_run_from_a_pipeline_version(kfp_client, experiment_id, scalar_version) -> None:
    pipeline_id, version_id = scalar_version
    params = {"count": 7, "label": "from version", "ratio": 0.75, "tags": ["a"], "enabled": False}

    result = kfp_client.run_pipeline(
        experiment_id=experiment_id,
        job_name="by version",
        pipeline_id=pipeline_id,
        version_id=version_id,
        params=params,
        pipeline_root="minio://bucket/root",
        service_account="runner",
    )
    run = kfp_client.get_run(result.run_id)

    assert run.run_id == result.run_id
    assert run.display_name == "by version"
    assert run.experiment_id == experiment_id
    assert run.state == "PENDING"
    assert run.storage_state == "AVAILABLE"
    assert _states(run) == ["PENDING"]
    assert isinstance(run.state_history[0].update_time, datetime)
    assert isinstance(run.created_at, datetime)
    assert run.finished_at is None
    assert run.runtime_config.parameters == params
    assert run.runtime_config.pipeline_root == "minio://bucket/root"
    assert run.service_account == "runner"
    assert run.pipeline_version_reference.pipeline_id == pipeline_id
    assert run.pipeline_version_reference.pipeline_version_id == version_id
    listed = kfp_client.list_runs(experiment_id=experiment_id, page_size=100)
    assert result.run_id in {r.run_id for r in listed.runs}


def test_run_from_a_pipeline_id_uses_its_latest_version(kfp_client, api, experiment_id) -> None:
    pipeline = kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=unique("latest"))
    newest = kfp_client.upload_pipeline_version(
        str(corpus("importing")), pipeline_version_name="newest", pipeline_id=pipeline.pipeline_id
    )

    response = api.post(
        "/runs",
        json={
            "display_name": "latest version",
            "experiment_id": experiment_id,
            "pipeline_version_reference": {"pipeline_id": pipeline.pipeline_id},
        },
    )

    assert response.status_code == 200, response.text
    reference = response.json()["pipeline_version_reference"]
    assert reference == {
        "pipeline_id": pipeline.pipeline_id,
        "pipeline_version_id": newest.pipeline_version_id,
    }


def test_run_from_a_package_carries_the_inline_spec(kfp_client) -> None:
    experiment_name = unique("runs package exp")
    result = kfp_client.create_run_from_pipeline_package(
        str(corpus("scalar_params")),
        arguments={"count": 3, "options": {"mode": "slow"}},
        run_name="inline spec",
        experiment_name=experiment_name,
    )
    run = kfp_client.get_run(result.run_id)

    assert run.state == "PENDING"
    assert run.display_name == "inline spec"
    assert run.pipeline_spec == corpus_documents("scalar_params")[0]
    assert run.pipeline_version_reference is None
    assert run.runtime_config.parameters == {"count": 3, "options": {"mode": "slow"}}
    experiment = kfp_client.get_experiment(experiment_name=experiment_name)
    assert run.experiment_id == experiment.experiment_id


def test_run_from_a_pipeline_func(kfp_client, experiment_id) -> None:
    result = kfp_client.create_run_from_pipeline_func(
        repeat_pipeline,
        arguments={"message": "hi", "times": 3},
        run_name="from func",
        experiment_id=experiment_id,
    )
    run = kfp_client.get_run(result.run_id)

    assert run.pipeline_spec["pipelineInfo"]["name"] == "e2e-repeat"
    assert run.runtime_config.parameters == {"message": "hi", "times": 3}
    assert _states(run) == ["PENDING"]


def test_run_with_the_platform_spec_wrapper(kfp_client, experiment_id) -> None:
    result = kfp_client.run_pipeline(
        experiment_id=experiment_id,
        job_name="with platform spec",
        pipeline_package_path=str(corpus("workspace_config")),
        params={"text": "scratch"},
    )
    run = kfp_client.get_run(result.run_id)

    documents = corpus_documents("workspace_config")
    assert run.pipeline_spec == {"pipeline_spec": documents[0], "platform_spec": documents[1]}
    assert run.runtime_config.parameters == {"text": "scratch"}
    assert run.state == "PENDING"


def test_run_without_experiment_lands_in_default(kfp_client, api) -> None:
    spec = corpus_documents("minimal")[0]
    response = api.post("/runs", json={"display_name": "no experiment", "pipeline_spec": spec})
    assert response.status_code == 200, response.text
    body = response.json()

    default = kfp_client.get_experiment(experiment_name="Default")
    assert body["experiment_id"] == default.experiment_id
    assert body["state"] == "PENDING"
    parse_rfc3339(body["created_at"])
    assert kfp_client.get_run(body["run_id"]).experiment_id == default.experiment_id
    # kfp.Client without an experiment name uses the same "Default" experiment.
    result = kfp_client.create_run_from_pipeline_package(str(corpus("minimal")), run_name="sdk")
    assert kfp_client.get_run(result.run_id).experiment_id == default.experiment_id


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"message": "x", "bogus": 1}, "bogus"),
        ({"times": 3}, "message"),
        ({"message": "x", "times": "three"}, "times"),
        ({"message": "x", "times": 2.5}, "times"),
        ({"message": 5}, "message"),
        ({"message": "x", "loud": "yes"}, "loud"),
        ({"message": "x", "ratio": "half"}, "ratio"),
    ],
    ids=[
        "unknown",
        "missing",
        "str-for-int",
        "float-for-int",
        "int-for-str",
        "str-for-bool",
        "str-for-float",
    ],
)
def test_bad_runtime_parameters_are_400_naming_the_parameter(
    kfp_client, api, experiment_id, repeat_package, params, named
) -> None:
    before = kfp_client.list_runs(experiment_id=experiment_id, page_size=200).total_size
    with pytest.raises(ApiException) as caught:
        kfp_client.run_pipeline(
            experiment_id=experiment_id,
            job_name="bad params",
            pipeline_package_path=str(repeat_package),
            params=params,
        )
    assert caught.value.status == 400
    error = api_error(caught.value)
    assert error["code"] == INVALID_ARGUMENT
    assert repr(named) in error["message"], error
    # Nothing was stored.
    assert kfp_client.list_runs(experiment_id=experiment_id, page_size=200).total_size == before

    # The same rule for a run from a pipeline version, over raw HTTP.
    spec = corpus_documents("minimal")[0]
    raw = api.post(
        "/runs",
        json={
            "display_name": "raw bad params",
            "experiment_id": experiment_id,
            "pipeline_spec": spec,
            "runtime_config": {"parameters": {"nope": 1}},
        },
    )
    assert_error(raw, 400, INVALID_ARGUMENT, "'nope'")


def test_wrong_parameter_type_against_a_version(kfp_client, experiment_id, scalar_version) -> None:
    pipeline_id, version_id = scalar_version
    with pytest.raises(ApiException) as caught:
        kfp_client.run_pipeline(
            experiment_id=experiment_id,
            job_name="bad version params",
            pipeline_id=pipeline_id,
            version_id=version_id,
            params={"options": ["not", "a", "dict"]},
        )
    assert caught.value.status == 400
    assert "'options'" in api_error(caught.value)["message"]


def test_terminate_cancels_and_retry_resubmits(kfp_client, experiment_id) -> None:
    run_id = _pending_run(kfp_client, experiment_id)

    kfp_client.terminate_run(run_id)

    canceled = kfp_client.get_run(run_id)
    assert canceled.state == "CANCELED"
    assert _states(canceled) == ["PENDING", "CANCELED"]
    assert isinstance(canceled.finished_at, datetime)
    assert canceled.finished_at >= canceled.created_at

    # Terminating again is accepted and changes nothing.
    kfp_client.terminate_run(run_id)
    assert _states(kfp_client.get_run(run_id)) == ["PENDING", "CANCELED"]

    kfp_client.runs.run_service_retry_run(run_id)

    retried = kfp_client.get_run(run_id)
    assert retried.state == "PENDING"
    assert _states(retried) == ["PENDING", "CANCELED", "PENDING"]
    assert retried.finished_at is None

    # A pending run cannot be retried.
    with pytest.raises(ApiException) as caught:
        kfp_client.runs.run_service_retry_run(run_id)
    assert caught.value.status == 400
    error = api_error(caught.value)
    assert error["code"] == FAILED_PRECONDITION
    assert "PENDING" in error["message"]


def test_archive_unarchive_and_delete_a_run(kfp_client, experiment_id) -> None:
    run_id = _pending_run(kfp_client, experiment_id, "archive me")

    kfp_client.archive_run(run_id)
    assert kfp_client.get_run(run_id).storage_state == "ARCHIVED"
    kfp_client.unarchive_run(run_id)
    assert kfp_client.get_run(run_id).storage_state == "AVAILABLE"

    kfp_client.delete_run(run_id)

    with pytest.raises(ApiException) as caught:
        kfp_client.get_run(run_id)
    assert caught.value.status == 404
    listed = kfp_client.list_runs(experiment_id=experiment_id, page_size=200)
    assert run_id not in {r.run_id for r in listed.runs or []}
    for call in (kfp_client.archive_run, kfp_client.terminate_run, kfp_client.delete_run):
        with pytest.raises(ApiException) as caught:
            call(run_id)
        assert caught.value.status == 404


def test_run_needs_a_pipeline(kfp_client, api, experiment_id) -> None:
    message = assert_error(
        api.post("/runs", json={"display_name": "empty", "experiment_id": experiment_id}),
        400,
        INVALID_ARGUMENT,
    )
    assert "pipeline_spec" in message or "pipeline_version_reference" in message
    assert_error(
        api.post(
            "/runs",
            json={
                "display_name": "ghost version",
                "experiment_id": experiment_id,
                "pipeline_version_reference": {
                    "pipeline_id": "00000000-0000-0000-0000-000000000000",
                    "pipeline_version_id": "00000000-0000-0000-0000-000000000001",
                },
            },
        ),
        404,
        5,
    )
    assert_error(
        api.post(
            "/runs",
            json={
                "display_name": "ghost experiment",
                "experiment_id": "00000000-0000-0000-0000-000000000002",
                "pipeline_spec": corpus_documents("minimal")[0],
            },
        ),
        404,
        5,
    )
