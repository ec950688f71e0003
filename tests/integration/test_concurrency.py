"""Concurrent writers on each backend: simultaneous creations all land (no "database is
locked", no lost rows), and a race on a unique name has one winner and clean
AlreadyExists errors for the rest, never a driver error."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from api_server.rest.dependencies import Services
from api_server.services import ListQuery, PipelineInput, PipelineSource, RunInput
from domain.errors import AlreadyExists, FailedPrecondition

SpecLoader = Callable[[str], dict[str, Any]]
CountRows = Callable[[str], int]
T = TypeVar("T")
THREADS = 8


def all_at_once(work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(i)`` on THREADS threads released together; results or raised errors."""
    barrier = threading.Barrier(THREADS)

    def attempt(i: int) -> T | BaseException:
        barrier.wait(timeout=30)
        try:
            return work(i)
        except Exception as exc:  # collected and asserted on by the caller
            return exc

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(attempt, range(THREADS)))


def test_simultaneous_run_creations_all_succeed(
    services: Services, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    spec = compiled_spec("scalar_params")
    per_thread = 3

    def create_runs(i: int) -> list[str]:
        # No experiment: every thread also needs the (not yet existing) default experiment,
        # and they all submit the same inline spec.
        return [
            services.runs.create(
                RunInput(
                    display_name=f"run-{i}-{n}",
                    source=PipelineSource(pipeline_spec=spec),
                    runtime_config={"parameters": {"count": i}},
                )
            ).run_id
            for n in range(per_thread)
        ]

    results = all_at_once(create_runs)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    created = {run_id for r in results if isinstance(r, list) for run_id in r}
    assert len(created) == THREADS * per_thread
    listed = services.runs.list(ListQuery(page_size=200), experiment_id=None, namespace=None)
    assert {r.run_id for r in listed.items} == created
    assert listed.total_size == THREADS * per_thread
    assert count_rows("run_state_history") == THREADS * per_thread
    assert count_rows("experiments") == 1  # one default experiment
    assert count_rows("pipeline_specs") == 1  # one stored spec


def test_simultaneous_runs_in_one_experiment_all_succeed(
    services: Services, compiled_spec: SpecLoader
) -> None:
    experiment = services.experiments.create("busy", "", "")
    spec = compiled_spec("minimal")

    def create_run(i: int) -> str:
        return services.runs.create(
            RunInput(
                display_name=f"run-{i}",
                experiment_id=experiment.experiment_id,
                source=PipelineSource(pipeline_spec=spec),
            )
        ).run_id

    results = all_at_once(create_run)
    assert [r for r in results if isinstance(r, BaseException)] == []
    page = services.runs.list(
        ListQuery(page_size=3), experiment_id=experiment.experiment_id, namespace=None
    )
    assert page.total_size == THREADS
    latest = max(services.runs.get(str(r)).created_at for r in results)
    assert services.experiments.get(experiment.experiment_id).last_run_created_at == latest


def test_simultaneous_creations_that_must_fail_fail_alone(
    services: Services, compiled_spec: SpecLoader
) -> None:
    # Creations running together may share a transaction: a taken run id or an archived
    # experiment fails that creation only, and the counters count exactly the others.
    open_experiment = services.experiments.create("open", "", "")
    closed = services.experiments.create("closed", "", "")
    spec = compiled_spec("minimal")

    def create_run(i: int, experiment_id: str, run_id: str | None = None) -> str:
        return services.runs.create(
            RunInput(
                display_name=f"run-{i}",
                experiment_id=experiment_id,
                source=PipelineSource(pipeline_spec=spec),
                run_id=run_id,
            )
        ).run_id

    create_run(-1, closed.experiment_id)  # its namespace is now known to the service
    create_run(-2, open_experiment.experiment_id, "taken-id")
    services.experiments.archive(closed.experiment_id)

    def create(i: int) -> str:
        if i in (0, 1):
            return create_run(i, closed.experiment_id)
        if i == 2:
            return create_run(i, open_experiment.experiment_id, "taken-id")
        if i in (3, 4):
            return create_run(i, open_experiment.experiment_id, "wanted-id")
        return create_run(i, open_experiment.experiment_id)

    results = all_at_once(create)
    assert all(isinstance(r, FailedPrecondition) for r in results[:2])
    assert "is archived" in str(results[0])
    assert isinstance(results[2], AlreadyExists)
    assert sorted(map(str, results[3:5])) == [
        "run_id: run 'wanted-id' already exists",
        "wanted-id",
    ]
    created = [r for r in results[3:] if isinstance(r, str)]
    assert len(created) == THREADS - 4
    page = services.runs.list(
        ListQuery(page_size=50), experiment_id=open_experiment.experiment_id, namespace=None
    )
    assert sorted(r.run_id for r in page.items) == sorted([*created, "taken-id"])
    assert page.total_size == len(created) + 1
    archived = services.runs.list(
        ListQuery(page_size=50), experiment_id=closed.experiment_id, namespace=None
    )
    assert archived.total_size == len(archived.items) == 1


def test_racing_for_one_experiment_name_has_one_winner(
    services: Services, count_rows: CountRows
) -> None:
    results = all_at_once(lambda i: services.experiments.create("contested", f"by {i}", "ns"))
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == THREADS - 1
    assert all(type(e) is AlreadyExists for e in losers), losers
    assert count_rows("experiments") == 1


def test_racing_for_one_pipeline_name_has_one_winner(
    services: Services, count_rows: CountRows
) -> None:
    results = all_at_once(lambda i: services.pipelines.create(PipelineInput(name="contested")))
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(losers) == THREADS - 1
    assert all(type(e) is AlreadyExists for e in losers), losers
    assert count_rows("pipelines") == 1
