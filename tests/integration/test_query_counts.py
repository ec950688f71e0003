"""No N+1: reading a list or a run issues a fixed number of SQL statements, whatever the
number of items, on each backend. Statements are counted with a ``before_cursor_execute``
listener on each of the services' engines (the ``sent_statements`` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from service_inputs import Clock

from api_server.backends import RunStatusEvent, TaskStatusEvent
from api_server.rest.dependencies import Services
from api_server.services import (
    ListQuery,
    PipelineInput,
    PipelineSource,
    RecurringRunInput,
    RunInput,
    Trigger,
    VersionInput,
)

SpecLoader = Callable[[str], dict[str, Any]]
SMALL, LARGE = 5, 50
# Most statements any single read below may take (page, count, BEGIN on SQLite, details).
MOST = 6


@pytest.fixture
def count_statements(
    sent_statements: Callable[[Callable[[], object]], list[str]],
) -> Callable[[Callable[[], object]], int]:
    """``count_statements(call)``: how many statements ``call()`` sent to the database."""
    return lambda call: len(sent_statements(call))


def grow_and_compare(
    make: Callable[[int], None],
    read: Callable[[], object],
    count_statements: Callable[[Callable[[], object]], int],
) -> tuple[int, int]:
    """Statements of ``read`` with SMALL items, then with LARGE items."""
    make(SMALL)
    small = count_statements(read)
    make(LARGE - SMALL)
    large = count_statements(read)
    return small, large


@pytest.mark.parametrize("page_size", [200, 2])  # one page; several pages (adds a count)
def test_listing_runs_takes_the_same_statements_for_5_and_50(
    services: Services,
    clock: Clock,
    compiled_spec: SpecLoader,
    count_statements: Callable[[Callable[[], object]], int],
    page_size: int,
) -> None:
    spec = compiled_spec("minimal")
    experiment = services.experiments.create("exp", "", "")

    def make(n: int) -> None:
        for i in range(n):
            run = services.runs.create(
                RunInput(
                    display_name=f"r{i}",
                    experiment_id=experiment.experiment_id,
                    source=PipelineSource(pipeline_spec=spec),
                )
            )
            # History and tasks must not be loaded by a list.
            services.runs.report_status(
                RunStatusEvent(
                    run_id=run.run_id,
                    generation=0,
                    update_time=clock.advance(1),
                    state="RUNNING",
                    tasks=[TaskStatusEvent(f"{run.run_id}-t", "RUNNING", clock.now)],
                )
            )

    def read() -> object:
        return services.runs.list(
            ListQuery(page_size=page_size), experiment_id=experiment.experiment_id, namespace=None
        )

    small, large = grow_and_compare(make, read, count_statements)
    assert small == large <= MOST


@pytest.mark.parametrize("page_size", [200, 2])
def test_listing_experiments_takes_the_same_statements_for_5_and_50(
    services: Services,
    clock: Clock,
    count_statements: Callable[[Callable[[], object]], int],
    page_size: int,
) -> None:
    made = [0]

    def make(n: int) -> None:
        for _ in range(n):
            made[0] += 1
            services.experiments.create(f"exp-{made[0]}", "", "")

    def read() -> object:
        return services.experiments.list(ListQuery(page_size=page_size), None)

    small, large = grow_and_compare(make, read, count_statements)
    assert small == large <= MOST


@pytest.mark.parametrize("page_size", [200, 2])
def test_listing_pipelines_and_versions_takes_the_same_statements_for_5_and_50(
    services: Services,
    clock: Clock,
    compiled_spec: SpecLoader,
    count_statements: Callable[[Callable[[], object]], int],
    page_size: int,
) -> None:
    spec = compiled_spec("minimal")
    holder = services.pipelines.create(PipelineInput(name="holder"))
    made = [0]

    def make(n: int) -> None:
        for _ in range(n):
            made[0] += 1
            services.pipelines.create_with_version(
                PipelineInput(name=f"p-{made[0]}"), VersionInput(name="v", pipeline_spec=spec)
            )
            services.pipelines.create_version(
                holder.pipeline_id, VersionInput(name=f"v-{made[0]}", pipeline_spec=spec)
            )

    def read() -> object:
        services.pipelines.list(ListQuery(page_size=page_size), None)
        return services.pipelines.list_versions(holder.pipeline_id, ListQuery(page_size=page_size))

    small, large = grow_and_compare(make, read, count_statements)
    assert small == large <= 2 * MOST


def test_listing_recurring_runs_takes_the_same_statements_for_5_and_50(
    services: Services,
    clock: Clock,
    compiled_spec: SpecLoader,
    count_statements: Callable[[Callable[[], object]], int],
) -> None:
    spec = compiled_spec("minimal")
    made = [0]

    def make(n: int) -> None:
        for _ in range(n):
            made[0] += 1
            services.recurring_runs.create(
                RecurringRunInput(
                    display_name=f"s-{made[0]}",
                    source=PipelineSource(pipeline_spec=spec),
                    trigger=Trigger(interval_seconds=60),
                )
            )

    def read() -> object:
        return services.recurring_runs.list(
            ListQuery(page_size=200), experiment_id=None, namespace=None
        )

    small, large = grow_and_compare(make, read, count_statements)
    assert small == large <= MOST


def running_with_tasks(
    services: Services, clock: Clock, spec: dict[str, Any], name: str, count: int
) -> tuple[str, list[str]]:
    """A new RUNNING run with ``count`` RUNNING tasks (a root and its children): its id and
    its tasks' ids."""
    run = services.runs.create(
        RunInput(display_name=name, source=PipelineSource(pipeline_spec=spec))
    )
    started = clock.advance(1)
    tasks = [TaskStatusEvent("root-" + run.run_id, "RUNNING", started)] + [
        TaskStatusEvent(f"{run.run_id}-{i}", "RUNNING", started, parent_task_id="root")
        for i in range(count - 1)
    ]
    services.runs.report_status(
        RunStatusEvent(run.run_id, 0, started, state="RUNNING", tasks=tasks)
    )
    return run.run_id, [t.task_id for t in tasks]


def test_getting_a_run_takes_the_same_statements_for_1_and_20_tasks(
    services: Services,
    clock: Clock,
    compiled_spec: SpecLoader,
    count_statements: Callable[[Callable[[], object]], int],
) -> None:
    spec = compiled_spec("minimal")

    def run_with_tasks(count: int) -> str:
        run_id, task_ids = running_with_tasks(services, clock, spec, f"tasks-{count}", count)
        # A second history row for every task.
        services.runs.report_status(
            RunStatusEvent(
                run_id,
                0,
                clock.advance(1),
                tasks=[TaskStatusEvent(t, "SUCCEEDED", clock.now) for t in task_ids],
            )
        )
        return run_id

    one, twenty = run_with_tasks(1), run_with_tasks(20)
    assert len(services.runs.get(twenty).tasks or []) == 20
    assert all(len(t.state_history) == 2 for t in services.runs.get(twenty).tasks or [])
    small = count_statements(lambda: services.runs.get(one))
    large = count_statements(lambda: services.runs.get(twenty))
    assert small == large <= MOST


def test_restating_tasks_with_new_details_takes_the_same_statements_for_1_and_20(
    services: Services,
    clock: Clock,
    compiled_spec: SpecLoader,
    count_statements: Callable[[Callable[[], object]], int],
) -> None:
    spec = compiled_spec("minimal")

    def restate(count: int) -> int:
        run_id, task_ids = running_with_tasks(services, clock, spec, f"restate-{count}", count)
        # Still RUNNING, with details to compare against the stored rows (a new attempt).
        event = RunStatusEvent(
            run_id,
            0,
            clock.advance(1),
            tasks=[
                TaskStatusEvent(t, "RUNNING", clock.now, executor_detail={"attempt": 2})
                for t in task_ids
            ],
        )
        statements = count_statements(lambda: services.runs.report_status(event))
        got = services.runs.get(run_id).tasks or []
        assert [t.executor_detail for t in got] == [{"attempt": 2}] * count
        return statements

    assert restate(1) == restate(20)
