"""The engine's series on ``/metrics``: tasks by final state (cache hits apart), their
durations, the runs it is executing and the size of its group commits."""

# No "from __future__ import annotations": kfp reads the component annotations at runtime.

import re

import httpx
import pytest
from kfp import dsl

from tests.e2e.conftest import RunningServer
from tests.e2e.engine.support import submit, wait_succeeded

pytestmark = pytest.mark.e2e


@dsl.component
def twice(x: int) -> int:
    return 2 * x


@dsl.pipeline(name="engine-metrics")
def metrics_pipeline(x: int = 4) -> int:
    return twice(x=twice(x=x).output).output


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}(\{{{re.escape(wanted)}\}})? ([0-9.e+-]+)$"
    for line in text.splitlines():
        found = re.match(pattern, line)
        if found and (not labels or found.group(1)):
            return float(found.group(2))
    return 0.0


def test_engine_series_count_what_ran(kfp_client, api, server: RunningServer) -> None:
    before = httpx.get(f"{server.url}/metrics", timeout=10).text
    done = sample(before, "headrace_engine_tasks_total", cached="false", state="SUCCEEDED")
    run = wait_succeeded(api, submit(kfp_client, metrics_pipeline, {}, enable_caching=False))
    assert run["state"] == "SUCCEEDED"

    after = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert (
        sample(after, "headrace_engine_tasks_total", cached="false", state="SUCCEEDED") == done + 2
    )
    observations = sample(after, "headrace_engine_task_seconds_count")  # a count
    assert observations >= 2
    assert sample(after, "headrace_engine_transitions_per_commit_count") >= 1
    assert "headrace_engine_active_runs" in after
