"""The checked-in compiled corpus (``tests/pipelines/compiled``) runs unchanged: each package
is submitted as the kfp SDK compiled it, with its defaults, and must reach SUCCEEDED with
every task finished. Left out, and why:

* ``artifact_types``: installs numpy, pandas and scikit-learn into its task environments
  (minutes of pip on a cold machine); the engine's artifact handling is covered by
  ``test_artifacts.py`` with pipelines that check their outputs.
* ``importing``: imports ``gs://`` URIs, which need a Google Cloud Storage client.
* ``workspace_config``: asks for a Kubernetes workspace volume.
* ``container_steps``: downloads its input from ``http://example.test`` (there is no network
  here); its placeholders are covered by ``test_parameters.py``, and
  ``test_a_failing_corpus_pipeline_fails_cleanly`` below runs it to its expected failure.
"""

from __future__ import annotations

import pytest

from tests.e2e.engine.support import describe, tasks, wait_succeeded
from tests.e2e.support import corpus, unique

pytestmark = pytest.mark.e2e

RUNNABLE = [
    "branches",
    "composed_graphs",
    "exit_handling",
    "loops",
    "minimal",
    "mixed_control",
    "nested_pipelines",
    "scalar_params",
    "task_config",
]


@pytest.mark.parametrize("name", RUNNABLE)
def test_compiled_corpus_package_runs_unchanged(kfp_client, api, name: str) -> None:
    result = kfp_client.create_run_from_pipeline_package(
        str(corpus(name)), arguments={}, run_name=unique(name), experiment_name="engine corpus"
    )
    run = wait_succeeded(api, result.run_id)

    assert tasks(run), describe(run)
    assert {t["state"] for t in tasks(run)} <= {"SUCCEEDED", "SKIPPED"}, describe(run)


def test_a_failing_corpus_pipeline_fails_cleanly(kfp_client, api) -> None:
    """``container_steps`` cannot download its input here: the first task fails with the
    download's error, everything downstream of it is skipped, the run FAILS."""
    from tests.e2e.engine.support import wait_for_state

    result = kfp_client.create_run_from_pipeline_package(
        str(corpus("container_steps")),
        arguments={},
        run_name=unique("cs"),
        experiment_name="engine corpus",
    )
    run = wait_for_state(api, result.run_id)
    assert run["state"] == "FAILED", describe(run)
    states = {t["display_name"]: t["state"] for t in tasks(run)}
    assert states["fetch-text"] == "FAILED"
    assert states["word-count"] == "SKIPPED" and states["echo-value"] == "SKIPPED", states
    assert "fetch-text" in run["error"]["message"]
