"""If/Elif/Else, OneOf, ParallelFor (literal and upstream lists, parallelism), Collected,
ExitHandler with PipelineTaskFinalStatus, ignore_upstream_failure and .after()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.engine import pipelines as p
from tests.e2e.engine.support import (
    describe,
    lines,
    output_parameter,
    submit,
    task_named,
    tasks_named,
    wait_for_state,
    wait_succeeded,
)
from tests.e2e.support import parse_rfc3339

pytestmark = pytest.mark.e2e

BRANCHES = ("big", "medium", "small")
BRANCH_TASKS = ("branch", "branch-2", "branch-3")  # the If, Elif and Else tasks, in order


@pytest.mark.parametrize("value", [3, 7, 12])
def test_only_the_taken_branch_runs(kfp_client, api, side: Path, value: int) -> None:
    run_id = submit(kfp_client, p.conditions_pipeline, {"side_dir": str(side), "value": value})
    run = wait_succeeded(api, run_id)
    taken = p.expected_branch(value)

    assert sorted(f.name for f in side.glob("branch-*")) == sorted(
        [f"branch-{taken}"] + (["branch-at-least-seven"] if value >= 7 else [])
    )
    # The taken branch's task succeeded; the others are absent or SKIPPED, never run.
    for branch, task_name in zip(BRANCHES, BRANCH_TASKS, strict=True):
        states = [t["state"] for t in tasks_named(run, task_name)]
        if branch == taken:
            assert states == ["SUCCEEDED"], describe(run)
        else:
            assert set(states) <= {"SKIPPED"}, describe(run)
    threshold = tasks_named(run, "threshold")
    if value >= 7:
        assert [t["state"] for t in threshold] == ["SUCCEEDED"], describe(run)
    else:
        assert all(t["state"] == "SKIPPED" for t in threshold), describe(run)

    # OneOf handed the taken branch's output downstream.
    assert (side / "oneof").read_text() == f"took {taken}"
    assert output_parameter(task_named(run, "report")) == f"TOOK {taken.upper()}"


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def test_parallel_for_with_parallelism_and_collected_fan_in(kfp_client, api, side: Path) -> None:
    run_id = submit(kfp_client, p.loops_pipeline, {"side_dir": str(side), "n": 3, "pause": 1.5})
    run = wait_succeeded(api, run_id)

    # Literal list: every item ran once, never more than `parallelism` at a time, and the
    # loop did run items side by side.
    intervals = []
    for x in (1, 2, 3, 4):
        start, end = map(float, (side / f"square-{x}").read_text().split())
        intervals.append((start, end))
    assert _max_overlap(intervals) == p.LOOP_PARALLELISM, intervals
    squares = tasks_named(run, "square")
    assert sorted(output_parameter(t) for t in squares) == [1, 4, 9, 16], describe(run)

    # List from an upstream task, with sub-fields of each item.
    assert {f.name: f.read_text() for f in side.glob("weigh-*")} == {
        "weigh-item-0": "1",
        "weigh-item-1": "2",
        "weigh-item-2": "3",
    }

    # Collected fan-in of parameters and of artifacts (with their metadata).
    assert output_parameter(task_named(run, "total")) == p.EXPECTED_SQUARES
    assert output_parameter(task_named(run, "join-sorted")) == p.EXPECTED_WEIGHTS
    assert output_parameter(task_named(run, "read-all")) == p.EXPECTED_DATASETS


def test_exit_handler_sees_success(kfp_client, api, side: Path) -> None:
    run_id = submit(kfp_client, p.exit_handler_pipeline, {"side_dir": str(side), "fail": False})
    run = wait_succeeded(api, run_id)

    status = json.loads((side / "final-status.json").read_text())
    # KFP's backend reports ML-Metadata's state name, and the group's task key.
    assert status["state"] == "COMPLETE", status
    assert status["error_message"] in ("", None), status
    assert status["task_name"] == "exit-handler-1", status
    assert status["job_resource_name"].startswith("engine-exit-handler-"), status
    assert (side / "after-work-ran").read_text() == "worked"
    assert task_named(run, "final-report")["state"] == "SUCCEEDED"


def test_exit_handler_sees_failure_and_the_run_fails(kfp_client, api, side: Path) -> None:
    run_id = submit(kfp_client, p.exit_handler_pipeline, {"side_dir": str(side), "fail": True})
    run = wait_for_state(api, run_id)

    assert run["state"] == "FAILED", describe(run)
    status = json.loads((side / "final-status.json").read_text())
    assert status["state"] == "FAILED", status
    assert (side / "work-ran").exists()
    assert not (side / "after-work-ran").exists()
    assert task_named(run, "final-report")["state"] == "SUCCEEDED", describe(run)
    assert task_named(run, "work")["state"] == "FAILED", describe(run)


def test_ignore_upstream_failure_runs_the_cleanup(kfp_client, api, side: Path) -> None:
    run_id = submit(kfp_client, p.ignore_failure_pipeline, {"side_dir": str(side)})
    run = wait_for_state(api, run_id)

    assert run["state"] == "FAILED", describe(run)
    assert (side / "cleanup-ran").read_text() == "yes"
    assert not (side / "after-work-ran").exists()
    assert task_named(run, "cleanup")["state"] == "SUCCEEDED", describe(run)
    # The failed task's dependant never ran: absent from the details or not started.
    for task in tasks_named(run, "after-work"):
        assert task["state"] not in ("SUCCEEDED", "RUNNING"), describe(run)


def test_after_orders_tasks_without_data_dependencies(kfp_client, api, side: Path) -> None:
    run_id = submit(kfp_client, p.after_pipeline, {"side_dir": str(side)})
    run = wait_succeeded(api, run_id)

    assert lines(side / "order") == ["first", "second", "third"]
    first, second, third = (task_named(run, name) for name in ("first", "second", "third"))
    assert parse_rfc3339(first["end_time"]) <= parse_rfc3339(second["start_time"]), describe(run)
    assert parse_rfc3339(second["end_time"]) <= parse_rfc3339(third["start_time"]), describe(run)
