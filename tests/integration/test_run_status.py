"""RunService.report_status on each backend: the one path every run backend reports through.
Events are applied in order and idempotently; stale, repeated or backwards ones change
nothing, and every change writes a history row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from service_inputs import Clock

from api_server.backends import RunStatusEvent, TaskStatusEvent
from api_server.rest.dependencies import Services
from api_server.services import PipelineSource, RunInput
from domain.errors import InvalidArgument
from domain.resources import Run, Task

SpecLoader = Callable[[str], dict[str, Any]]
CountRows = Callable[[str], int]


@pytest.fixture
def run(services: Services, clock: Clock, compiled_spec: SpecLoader) -> Run:
    return services.runs.create(
        RunInput(display_name="r", source=PipelineSource(pipeline_spec=compiled_spec("minimal")))
    )


def event(
    run: Run, state: str | None, when: Any, generation: int = 0, **kwargs: Any
) -> RunStatusEvent:
    return RunStatusEvent(
        run_id=run.run_id, generation=generation, update_time=when, state=state, **kwargs
    )


def history(services: Services, run: Run) -> list[tuple[str, Any]]:
    got = services.runs.get(run.run_id)
    return [(h.state, h.update_time) for h in got.state_history or []]


def tasks_by_id(services: Services, run: Run) -> dict[str, Task]:
    return {t.task_id: t for t in services.runs.get(run.run_id).tasks or []}


# --- run transitions -------------------------------------------------------------------------


def test_pending_running_succeeded_each_add_a_history_row(
    services: Services, clock: Clock, run: Run
) -> None:
    started = clock.advance(5)
    assert services.runs.report_status(event(run, "RUNNING", started)) is True
    running = services.runs.get(run.run_id)
    assert (running.state, running.finished_at) == ("RUNNING", None)
    ended = clock.advance(5)
    assert services.runs.report_status(event(run, "SUCCEEDED", ended)) is True
    done = services.runs.get(run.run_id)
    assert (done.state, done.finished_at, done.error) == ("SUCCEEDED", ended, None)
    assert history(services, run) == [
        ("PENDING", run.created_at),
        ("RUNNING", started),
        ("SUCCEEDED", ended),
    ]


def test_a_repeated_event_changes_nothing(
    services: Services, clock: Clock, run: Run, count_rows: CountRows
) -> None:
    started = clock.advance(1)
    assert services.runs.report_status(event(run, "RUNNING", started)) is True
    assert services.runs.report_status(event(run, "RUNNING", started)) is False
    assert services.runs.report_status(event(run, "RUNNING", clock.advance(1))) is False
    assert count_rows("run_state_history") == 2
    assert services.runs.get(run.run_id).state == "RUNNING"


def test_a_backwards_event_is_ignored(
    services: Services, clock: Clock, run: Run, count_rows: CountRows
) -> None:
    services.runs.report_status(event(run, "RUNNING", clock.advance(1)))
    services.runs.report_status(event(run, "SUCCEEDED", clock.advance(1)))
    for late in ("RUNNING", "PENDING", "FAILED", "CANCELING"):
        assert services.runs.report_status(event(run, late, clock.advance(1))) is False
    assert services.runs.get(run.run_id).state == "SUCCEEDED"
    assert count_rows("run_state_history") == 3


def test_an_event_older_than_the_last_transition_is_ignored(
    services: Services, clock: Clock, run: Run, compiled_spec: SpecLoader
) -> None:
    before_start = clock.advance(1)
    started = clock.advance(10)
    assert services.runs.report_status(event(run, "RUNNING", started)) is True
    # A FAILED stamped before the run started is a stale report from elsewhere.
    assert services.runs.report_status(event(run, "FAILED", before_start)) is False
    assert services.runs.get(run.run_id).state == "RUNNING"
    # Same instant as the last transition is still in order.
    assert services.runs.report_status(event(run, "SUCCEEDED", started)) is True
    # Anything stamped before the run was created is stale too.
    other = services.runs.create(
        RunInput(display_name="o", source=PipelineSource(pipeline_spec=compiled_spec("minimal")))
    )
    too_early = event(other, "RUNNING", other.created_at - timedelta(microseconds=1))
    assert services.runs.report_status(too_early) is False
    assert services.runs.get(other.run_id).state == "PENDING"


def test_events_of_an_older_generation_are_ignored_after_a_retry(
    services: Services, clock: Clock, run: Run, count_rows: CountRows
) -> None:
    services.runs.report_status(event(run, "RUNNING", clock.advance(1)))
    services.runs.report_status(
        event(run, "FAILED", clock.advance(1), error={"code": 2, "message": "boom"})
    )
    services.runs.retry(run.run_id)
    assert services.runs.get(run.run_id).generation == 1
    rows = count_rows("run_state_history")
    late = [
        event(run, "RUNNING", clock.advance(1), generation=0),
        event(run, "SUCCEEDED", clock.advance(1), generation=0),
        event(
            run,
            None,
            clock.advance(1),
            generation=0,
            tasks=[TaskStatusEvent("old-task", "RUNNING", clock.now)],
        ),
    ]
    assert [services.runs.report_status(e) for e in late] == [False, False, False]
    assert count_rows("run_state_history") == rows
    assert count_rows("run_tasks") == 0
    assert services.runs.get(run.run_id).state == "PENDING"
    assert services.runs.report_status(event(run, "RUNNING", clock.advance(1), 1)) is True
    assert services.runs.report_status(event(run, "SUCCEEDED", clock.advance(1), 1)) is True
    assert [s for s, _ in history(services, run)] == [
        "PENDING",
        "RUNNING",
        "FAILED",
        "PENDING",
        "RUNNING",
        "SUCCEEDED",
    ]


def test_a_failure_keeps_its_error_in_the_run_and_its_history(
    services: Services, clock: Clock, run: Run
) -> None:
    error = {"code": 13, "message": "the step exited with 1", "details": []}
    services.runs.report_status(event(run, "FAILED", clock.advance(1), error=error))
    failed = services.runs.get(run.run_id)
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == (13, "the step exited with 1")
    assert failed.state_history is not None
    last = failed.state_history[-1]
    assert last.error is not None and last.error.message == "the step exited with 1"


def test_a_report_for_an_unknown_run_changes_nothing(
    services: Services, clock: Clock, count_rows: CountRows
) -> None:
    ghost = RunStatusEvent(
        run_id="missing",
        generation=0,
        update_time=clock.advance(1),
        state="RUNNING",
        tasks=[TaskStatusEvent("t", "RUNNING", clock.now)],
    )
    assert services.runs.report_status(ghost) is False
    assert count_rows("run_tasks") == 0


def test_an_unknown_state_is_refused_and_nothing_of_the_event_is_kept(
    services: Services, clock: Clock, run: Run, count_rows: CountRows
) -> None:
    task = TaskStatusEvent("t", "RUNNING", clock.advance(1))
    with pytest.raises(InvalidArgument, match=r"^state: unknown run state 'DONE'"):
        services.runs.report_status(event(run, "DONE", clock.now, tasks=[task]))
    assert count_rows("run_tasks") == 0  # the whole event is one transaction
    with pytest.raises(InvalidArgument, match=r"^tasks: unknown task state 'DONE'"):
        services.runs.report_status(
            event(run, None, clock.now, tasks=[TaskStatusEvent("t", "DONE", clock.now)])
        )
    assert count_rows("run_tasks") == 0
    services.runs.report_status(event(run, None, clock.now, tasks=[task]))
    with pytest.raises(InvalidArgument, match=r"^tasks: unknown task state 'DONE'"):
        services.runs.report_status(
            event(run, None, clock.now, tasks=[TaskStatusEvent("t", "DONE", clock.now)])
        )
    assert tasks_by_id(services, run)["t"].state == "RUNNING"


# --- task transitions ------------------------------------------------------------------------


def test_task_events_insert_then_update_with_their_own_history(
    services: Services, clock: Clock, run: Run, count_rows: CountRows
) -> None:
    t1 = clock.advance(1)
    first = event(
        run,
        "RUNNING",
        t1,
        tasks=[
            TaskStatusEvent(
                "train",
                "RUNNING",
                t1,
                display_name="train",
                start_time=t1,
                pod_name="train-pod",
                inputs={"parameters": {"lr": 0.1}},
            )
        ],
    )
    assert services.runs.report_status(first) is True
    task = tasks_by_id(services, run)["train"]
    assert (task.state, task.display_name, task.pod_name, task.start_time) == (
        "RUNNING",
        "train",
        "train-pod",
        t1,
    )
    assert task.create_time == t1
    assert task.inputs == {"parameters": {"lr": 0.1}}

    t2 = clock.advance(1)
    finished = event(
        run,
        None,
        t2,
        tasks=[
            TaskStatusEvent(
                "train", "SUCCEEDED", t2, end_time=t2, outputs={"parameters": {"acc": 0.9}}
            )
        ],
    )
    assert services.runs.report_status(finished) is True
    task = tasks_by_id(services, run)["train"]
    assert (task.state, task.end_time, task.outputs) == (
        "SUCCEEDED",
        t2,
        {"parameters": {"acc": 0.9}},
    )
    assert task.pod_name == "train-pod"  # fields not in the event are kept
    assert [(h.state, h.update_time) for h in task.state_history] == [
        ("RUNNING", t1),
        ("SUCCEEDED", t2),
    ]
    # Repeated and backwards task events change nothing.
    assert services.runs.report_status(finished) is False
    backwards = event(
        run, None, clock.advance(1), tasks=[TaskStatusEvent("train", "RUNNING", clock.now)]
    )
    assert services.runs.report_status(backwards) is False
    assert tasks_by_id(services, run)["train"].state == "SUCCEEDED"
    assert count_rows("task_state_history") == 2
    # The run itself only moved once (PENDING -> RUNNING).
    assert [s for s, _ in history(services, run)] == ["PENDING", "RUNNING"]


def test_an_event_in_the_current_state_updates_only_the_details_that_changed(
    services: Services, clock: Clock, run: Run, count_rows: CountRows
) -> None:
    """An event that keeps a task's state is compared with the stored row: details that
    differ are written (no history row), equal ones change nothing, and a transition
    followed by such an event in the same report keeps both."""
    t1 = clock.advance(1)
    pending = TaskStatusEvent(
        "train", "PENDING", t1, display_name="train", executor_detail={"queued": True}
    )
    assert services.runs.report_status(event(run, "RUNNING", t1, tasks=[pending])) is True
    assert services.runs.report_status(event(run, None, t1, tasks=[pending])) is False

    t2 = clock.advance(1)
    detail = {"queued": True, "log": "/tmp/task.log"}
    same_state = TaskStatusEvent("train", "PENDING", t2, executor_detail=detail)
    assert services.runs.report_status(event(run, None, t2, tasks=[same_state])) is True
    task = tasks_by_id(services, run)["train"]
    assert (task.state, task.display_name) == ("PENDING", "train")
    assert task.executor_detail == detail

    t3 = clock.advance(1)
    running = TaskStatusEvent("train", "RUNNING", t3, start_time=t3, pod_name="p1")
    renamed = TaskStatusEvent("train", "RUNNING", t3, pod_name="p2")
    unchanged = TaskStatusEvent("train", "RUNNING", t3, executor_detail=detail)
    report = event(run, None, t3, tasks=[running, renamed, unchanged])
    assert services.runs.report_status(report) is True
    task = tasks_by_id(services, run)["train"]
    assert (task.state, task.pod_name, task.start_time) == ("RUNNING", "p2", t3)
    assert task.executor_detail == detail
    assert [h.state for h in task.state_history] == ["PENDING", "RUNNING"]
    assert count_rows("task_state_history") == 2


def test_a_task_of_another_run_is_refused(
    services: Services, clock: Clock, run: Run, compiled_spec: SpecLoader
) -> None:
    other = services.runs.create(
        RunInput(display_name="o", source=PipelineSource(pipeline_spec=compiled_spec("minimal")))
    )
    services.runs.report_status(
        event(run, None, clock.advance(1), tasks=[TaskStatusEvent("shared", "RUNNING", clock.now)])
    )
    with pytest.raises(InvalidArgument, match=r"^tasks: task 'shared' belongs to another run"):
        services.runs.report_status(
            event(
                other,
                None,
                clock.advance(1),
                tasks=[TaskStatusEvent("shared", "SUCCEEDED", clock.now)],
            )
        )
    assert tasks_by_id(services, run)["shared"].state == "RUNNING"
    assert tasks_by_id(services, other) == {}


def test_get_returns_the_task_tree(services: Services, clock: Clock, run: Run) -> None:
    when = clock.advance(1)
    tree = [
        TaskStatusEvent("root", "RUNNING", when, display_name="root"),
        TaskStatusEvent("loop", "RUNNING", when + timedelta(seconds=1), parent_task_id="root"),
        TaskStatusEvent("iter-0", "SUCCEEDED", when + timedelta(seconds=2), parent_task_id="loop"),
        TaskStatusEvent("iter-1", "FAILED", when + timedelta(seconds=3), parent_task_id="loop"),
        TaskStatusEvent("exit", "PENDING", when + timedelta(seconds=4), parent_task_id="root"),
    ]
    assert services.runs.report_status(event(run, "RUNNING", when, tasks=tree)) is True
    tasks = services.runs.get(run.run_id).tasks or []
    assert [t.task_id for t in tasks] == ["root", "loop", "iter-0", "iter-1", "exit"]
    children = {t.task_id: sorted(t.child_task_ids) for t in tasks}
    assert children == {
        "root": ["exit", "loop"],
        "loop": ["iter-0", "iter-1"],
        "iter-0": [],
        "iter-1": [],
        "exit": [],
    }
    assert {t.task_id: t.parent_task_id for t in tasks}["iter-1"] == "loop"
    assert all(len(t.state_history) == 1 for t in tasks)
