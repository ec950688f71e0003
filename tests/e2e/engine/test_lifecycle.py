"""Failures, task retry policies, task timeouts, terminate, run retry and caching."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.engine import pipelines as p
from tests.e2e.engine.support import (
    RUN_TIMEOUT,
    TERMINAL,
    describe,
    fetch_log,
    get_run_json,
    is_cache_hit,
    lines,
    output_parameter,
    pid_alive,
    poll_file,
    read_log,
    submit,
    task_named,
    tasks_named,
    wait_for_state,
    wait_succeeded,
)
from tests.e2e.support import poll

pytestmark = pytest.mark.e2e


def _error_message(entity: dict) -> str:
    return str((entity.get("error") or {}).get("message") or "")


def test_a_failing_task_fails_the_run_with_its_message(kfp_client, api, server, side: Path) -> None:
    run_id = submit(kfp_client, p.failure_pipeline, {"side_dir": str(side)})
    run = wait_for_state(api, run_id)

    assert run["state"] == "FAILED", describe(run)
    assert kfp_client.get_run(run_id).state == "FAILED"
    failed = task_named(run, "work")
    assert failed["state"] == "FAILED"
    # The reason is visible without opening the log: the exception's text on the task, and
    # an error on the run.
    assert p.FAILURE_MARKER in _error_message(failed), describe(run)
    assert _error_message(run), describe(run)
    log = read_log(server.url, run_id, failed["task_id"])
    assert p.FAILURE_MARKER in log and "RuntimeError" in log, log[-2000:]
    assert not (side / "after-work-ran").exists()


def test_retry_policy_retries_with_backoff_until_success_or_exhaustion(
    kfp_client, api, side: Path
) -> None:
    run_id = submit(kfp_client, p.retries_pipeline, {"side_dir": str(side)})
    run = wait_for_state(api, run_id)

    assert run["state"] == "FAILED", describe(run)  # "gives-up" exhausts its one retry
    recovers = task_named(run, "recovers")
    assert recovers["state"] == "SUCCEEDED", describe(run)
    assert output_parameter(recovers) == 3
    stamps = [float(t) for t in lines(side / "attempts-recovers")]
    assert len(stamps) == 3, stamps
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    for gap, backoff in zip(gaps, p.RETRY_BACKOFF_SECONDS, strict=True):
        assert gap >= backoff * 0.9, (gaps, p.RETRY_BACKOFF_SECONDS)
    # Each failed attempt is visible in the task details.
    failed_jobs = (recovers.get("executor_detail") or {}).get("failed_main_jobs") or []
    assert len(failed_jobs) == 2, recovers

    gives_up = task_named(run, "gives-up")
    assert gives_up["state"] == "FAILED", describe(run)
    assert len(lines(side / "attempts-gives-up")) == 2  # the attempt and one retry
    assert _error_message(gives_up), gives_up


def test_task_timeout_kills_the_task_and_fails_the_run(kfp_client, api, side: Path) -> None:
    run_id = submit(kfp_client, p.timeout_pipeline, {"side_dir": str(side)})
    run = wait_for_state(api, run_id)

    assert run["state"] == "FAILED", describe(run)
    task = task_named(run, "sleeper")
    assert task["state"] == "FAILED"
    assert re.search(r"time|deadline", _error_message(task), re.IGNORECASE), task
    assert (side / "sleeper-pids").exists()
    assert not (side / "sleeper-done").exists()
    pids = [int(x) for x in (side / "sleeper-pids").read_text().split()]
    poll(lambda: not any(pid_alive(pid) for pid in pids), timeout=10)


def test_terminate_cancels_within_seconds_kills_the_tree_and_runs_the_exit_handler(
    kfp_client, api, server, side: Path
) -> None:
    run_id = submit(kfp_client, p.terminate_pipeline, {"side_dir": str(side)})
    wait_for_state(api, run_id, {"RUNNING", *TERMINAL})
    poll_file(side / "sleeper-pids", bool, timeout=RUN_TIMEOUT)
    pids = [int(x) for x in (side / "sleeper-pids").read_text().split()]

    # The log is served while the task runs.
    def running_log() -> str:
        sleepers = tasks_named(get_run_json(api, run_id), "sleeper")
        if not sleepers:
            return ""
        log = fetch_log(server.url, run_id, sleepers[0]["task_id"]) or ""
        return log if f"sleeper started, pid {pids[0]}" in log else ""

    poll(running_log, timeout=30)

    kfp_client.terminate_run(run_id)
    # "Within seconds": the wait is bounded, not the run (its task would sleep 120 s).
    run = wait_for_state(api, run_id, timeout=15)

    assert run["state"] == "CANCELED", describe(run)
    poll(lambda: not any(pid_alive(pid) for pid in pids), timeout=10)
    assert not (side / "sleeper-done").exists()
    # The exit handler ran after the cancellation and saw it.
    status = json.loads(poll_file(side / "final-status.json", bool, timeout=120)[0])
    # kfp documents the cancelled state as "CANCELLED"; the API's spelling is accepted too.
    assert status["state"] in ("CANCELLED", "CANCELED"), status
    assert kfp_client.get_run(run_id).state == "CANCELED"


def test_retry_reruns_only_what_failed(kfp_client, api, side: Path) -> None:
    # Caching off: only the retry logic may keep succeeded tasks from running again.
    run_id = submit(kfp_client, p.retry_run_pipeline, {"side_dir": str(side)}, enable_caching=False)
    run = wait_for_state(api, run_id)
    assert run["state"] == "FAILED", describe(run)
    assert sorted(lines(side / "counter")) == ["a", "b", "independent"]

    (side / "open").write_text("")
    response = api.post(f"/runs/{run_id}:retry")
    assert response.status_code == 200, response.text
    run = wait_for_state(api, run_id)

    assert run["state"] == "SUCCEEDED", describe(run)
    assert sorted(lines(side / "counter")) == ["a", "b", "b", "c", "independent"]
    assert output_parameter(task_named(run, "c")) == 4
    assert task_named(run, "a")["state"] == "SUCCEEDED"


def test_second_identical_run_hits_the_cache_and_caching_off_executes(
    kfp_client, api, side: Path
) -> None:
    arguments = {"side_dir": str(side), "x": 10, "y": 5}

    def executions() -> Counter[str]:
        return Counter(lines(side / "counter"))

    first = wait_succeeded(api, submit(kfp_client, p.caching_pipeline, arguments))
    assert executions() == {"a": 1, "c": 1, "d": 1}
    assert output_parameter(task_named(first, "c")) == 17
    assert not any(is_cache_hit(task_named(first, name)) for name in ("a", "b", "c", "d"))

    second = wait_succeeded(api, submit(kfp_client, p.caching_pipeline, arguments))
    assert executions() == {"a": 1, "c": 1, "d": 2}, "a cached task ran again"
    for name in ("a", "b", "c"):
        assert is_cache_hit(task_named(second, name)), describe(second)
    assert output_parameter(task_named(second, "c")) == 17
    # set_caching_options(False) on one task: it runs every time.
    assert not is_cache_hit(task_named(second, "d")), describe(second)

    # A changed input below "a": "a" comes from the cache, its output feeds the rest.
    third = wait_succeeded(api, submit(kfp_client, p.caching_pipeline, {**arguments, "y": 6}))
    assert executions() == {"a": 1, "c": 2, "d": 3}
    assert is_cache_hit(task_named(third, "a")), describe(third)
    assert not is_cache_hit(task_named(third, "c")), describe(third)
    assert output_parameter(task_named(third, "c")) == 18

    # enable_caching=False on the run: everything executes again.
    off = wait_succeeded(
        api, submit(kfp_client, p.caching_pipeline, arguments, enable_caching=False)
    )
    assert executions() == {"a": 2, "c": 3, "d": 4}
    for name in ("a", "b", "c"):
        assert not is_cache_hit(task_named(off, name)), describe(off)
    assert output_parameter(task_named(off, "c")) == 17
