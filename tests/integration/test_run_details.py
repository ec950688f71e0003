"""A run's details as RunService.get returns them, on each backend: the run's state history
and every task's history come back whole, in the order they were written, however long and
whatever their errors hold, in a fixed, small number of statements (the histories travel
aggregated as JSON inside the run's and the tasks' own statements)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from service_inputs import Clock

from api_server.backends import RunStatusEvent, TaskStatusEvent
from api_server.rest.dependencies import Services
from api_server.rest.wire.runs import RunOut
from api_server.rest.wire.stored_tasks import run_json
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


# --- task details written from their stored rows ----------------------------------------


def _as_models(services: Services, run_id: str) -> Any:
    return json.loads(
        RunOut.from_domain(services.runs.get(run_id)).model_dump_json(exclude_none=True)
    )


def test_stored_task_details_are_the_json_the_task_models_write(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    """GET /runs/{id} writes a run's task details from their stored rows (stored_tasks):
    the JSON must be what building a TaskOut per task writes, field for field, whatever the
    tasks hold: awkward and non-ASCII text, errors in the task and in its history, a
    non-finite number in its outputs, whole-second and fractional times, children, fields
    never set."""
    run = inline_run(services, compiled_spec("minimal"), "stored")
    assert json.loads(run_json(*services.runs.get_stored(run.run_id))) == _as_models(
        services, run.run_id
    )

    whole_second = clock.advance(1).replace(microsecond=0)
    failure = status(13, AWKWARD, [{"step": AWKWARD, "n": [1, 2.5, None, True]}])
    report(
        services,
        run,
        0,
        whole_second,
        state="RUNNING",
        tasks=[
            TaskStatusEvent("root", "RUNNING", whole_second, display_name="root ✓"),
            TaskStatusEvent(
                AWKWARD,
                "RUNNING",
                whole_second,
                display_name=AWKWARD,
                parent_task_id="root",
                start_time=whole_second,
                inputs={"parameters": {"x": AWKWARD, "n": [1, 2.5, None]}},
                executor_detail={"attempts": [{"pid": 7}], "empty": {}},
                pod_name="pod é",
            ),
            TaskStatusEvent("queued", "PENDING", whole_second, parent_task_id="root", inputs={}),
        ],
    )
    ended = clock.advance(1)
    report(
        services,
        run,
        0,
        ended,
        tasks=[
            TaskStatusEvent(
                AWKWARD,
                "FAILED",
                ended,
                end_time=ended,
                error=failure.to_json(),
                execution_id="42",
                outputs={"parameters": {"inf": float("inf"), "nan": float("nan"), "ok": 1.5}},
            ),
        ],
    )
    stored = json.loads(run_json(*services.runs.get_stored(run.run_id)))
    assert stored == _as_models(services, run.run_id)
    tasks = {t["task_id"]: t for t in stored["run_details"]["task_details"]}
    assert tasks[AWKWARD]["outputs"]["parameters"] == {"inf": None, "nan": None, "ok": 1.5}
    assert tasks[AWKWARD]["state_history"][-1]["error"]["message"] == AWKWARD
    assert {c["task_id"] for c in tasks["root"]["child_tasks"]} == {AWKWARD, "queued"}
    assert "." not in tasks["root"]["create_time"]  # a whole second has no fraction
    assert "." in tasks[AWKWARD]["end_time"]


def test_stored_task_details_are_read_in_the_same_two_statements(
    services: Services,
    clock: Clock,
    compiled_spec: SpecLoader,
    statements: Callable[[Callable[[], object]], list[str]],
) -> None:
    run = _run_of_version(services, compiled_spec("minimal"))
    now = clock.advance(1)
    tasks = [TaskStatusEvent(f"t{i}", "RUNNING", now) for i in range(5)]
    report(services, run, run.generation, now, state="RUNNING", tasks=tasks)
    got: list[Any] = []
    assert len(statements(lambda: got.append(services.runs.get_stored(run.run_id)))) == 2
    assert [t.task_id for t in got[0][1]] == [f"t{i}" for i in range(5)]
    assert got[0][0].tasks == []
