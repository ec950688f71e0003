"""A run's details as RunService.get returns them, on each backend: the run's state history
and every task's history come back whole, in the order they were written, however long and
whatever their errors hold, in a fixed, small number of statements (the histories travel
aggregated as JSON inside the run's and the tasks' own statements)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from service_inputs import Clock

from api_server.backends import RunStatusEvent, TaskStatusEvent
from api_server.rest.dependencies import Services
from api_server.services import PipelineInput, PipelineSource, RunInput, VersionInput
from domain.resources import Run, RuntimeStatus, Status

SpecLoader = Callable[[str], dict[str, Any]]
Entry = tuple[str, datetime, Status | None]

# Text a JSON round trip through three databases must keep exactly.
AWKWARD = 'quote " backslash \\ slash / tab \t newline \n control \x01 é ✓ 😀 \u2028 end'
# Over MariaDB's default group_concat_max_len (1 MiB), which JSON_ARRAYAGG is cut at.
LARGE = "x" * (1024 * 1024 + 17)


def entries(history: list[RuntimeStatus] | None) -> list[Entry]:
    return [(h.state, h.update_time, h.error) for h in history or []]


def status(code: int, message: str, details: list[dict[str, Any]] | None = None) -> Status:
    return Status(code, message, details or [])


def inline_run(services: Services, spec: dict[str, Any], name: str) -> Run:
    return services.runs.create(
        RunInput(display_name=name, source=PipelineSource(pipeline_spec=spec))
    )


def report(services: Services, run: Run, generation: int, when: datetime, **kw: Any) -> None:
    assert services.runs.report_status(RunStatusEvent(run.run_id, generation, when, **kw))


def test_long_run_histories_read_back_whole_and_in_write_order(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    """Two runs failing and retried in turn, so their history rows interleave; transitions
    share instants (the order is the order written, not the time); errors hold awkward text,
    nested details and more than a mebibyte."""
    spec = compiled_spec("minimal")
    runs = [inline_run(services, spec, "a"), inline_run(services, spec, "b")]
    expected: dict[str, list[Entry]] = {r.run_id: [("PENDING", r.created_at, None)] for r in runs}
    errors = [
        status(2, AWKWARD, [{"reason": AWKWARD, "nested": {"n": [1, 2.5, None, True]}}]),
        status(13, LARGE),
        status(9, "plain"),
    ]
    for generation in range(12):
        for index, run in enumerate(runs):
            when = clock.advance(1)
            error = errors[(generation + index) % len(errors)]
            report(services, run, generation, when, state="RUNNING")
            report(services, run, generation, when, state="FAILED", error=error.to_json())
            services.runs.retry(run.run_id)
            expected[run.run_id] += [
                ("RUNNING", when, None),
                ("FAILED", when, error),
                ("PENDING", clock.now, None),
            ]
    for run in runs:
        got = services.runs.get(run.run_id)
        assert entries(got.state_history) == expected[run.run_id]
        assert got.tasks == []


def test_task_histories_read_back_whole_per_task_and_in_write_order(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    run = inline_run(services, compiled_spec("minimal"), "tasks")
    names = ["root", "train", "eval", "push"]
    expected: dict[str, list[Entry]] = {name: [] for name in names}
    started = clock.advance(1)
    # One event moves every task, so their history rows interleave.
    report(
        services,
        run,
        0,
        started,
        state="RUNNING",
        tasks=[
            TaskStatusEvent(name, "RUNNING", started, parent_task_id=None if i == 0 else "root")
            for i, name in enumerate(names)
        ],
    )
    for name in names:
        expected[name].append(("RUNNING", started, None))
    ended = clock.advance(1)
    failure = status(13, LARGE, [{"step": AWKWARD}])
    outcomes = {"root": None, "train": failure, "eval": None, "push": None}
    report(
        services,
        run,
        0,
        ended,
        tasks=[
            TaskStatusEvent(
                name,
                "FAILED" if outcome else "SUCCEEDED",
                ended,
                error=outcome.to_json() if outcome else None,
            )
            for name, outcome in outcomes.items()
        ],
    )
    for name, outcome in outcomes.items():
        expected[name].append(("FAILED" if outcome else "SUCCEEDED", ended, outcome))

    tasks = {t.task_id: t for t in services.runs.get(run.run_id).tasks or []}
    assert sorted(tasks) == sorted(names)
    for name in names:
        assert entries(tasks[name].state_history) == expected[name]
    assert tasks["train"].error == failure
    assert sorted(tasks["root"].child_task_ids) == ["eval", "push", "train"]
    assert [h.state for h in services.runs.get(run.run_id).state_history or []] == [
        "PENDING",
        "RUNNING",
    ]


# --- statements -------------------------------------------------------------------------


@pytest.fixture
def statements(
    sent_statements: Callable[[Callable[[], object]], list[str]],
) -> Callable[[Callable[[], object]], list[str]]:
    """``statements(call)``: the SQL ``call()`` sent, without SQLite's BEGIN."""
    return lambda call: [s for s in sent_statements(call) if not s.startswith("BEGIN")]


def _run_of_version(services: Services, spec: dict[str, Any]) -> Run:
    pipeline = services.pipelines.create_with_version(
        PipelineInput(name="p"), VersionInput(name="v", pipeline_spec=spec)
    )
    return services.runs.create(
        RunInput(display_name="r", source=PipelineSource(pipeline_id=pipeline.pipeline_id))
    )


def test_a_run_without_tasks_is_read_in_one_statement_and_with_tasks_in_two(
    services: Services,
    clock: Clock,
    compiled_spec: SpecLoader,
    statements: Callable[[Callable[[], object]], list[str]],
) -> None:
    run = _run_of_version(services, compiled_spec("minimal"))
    for _ in range(3):  # a longer history is still the same one statement
        report(services, run, run.generation, clock.advance(1), state="RUNNING")
        report(services, run, run.generation, clock.advance(1), state="FAILED")
        services.runs.retry(run.run_id)
        run = services.runs.get(run.run_id)
    assert len(run.state_history or []) == 10
    assert len(statements(lambda: services.runs.get(run.run_id))) == 1

    now = clock.advance(1)
    tasks = [TaskStatusEvent(f"t{i}", "RUNNING", now) for i in range(5)]
    report(services, run, run.generation, now, state="RUNNING", tasks=tasks)
    got: list[Run] = []
    assert len(statements(lambda: got.append(services.runs.get(run.run_id)))) == 2
    assert len(got[0].tasks or []) == 5
