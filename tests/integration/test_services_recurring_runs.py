"""RecurringRunService against each backend: triggers and their validation, names per
namespace, enable/disable, deletion and listing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from service_inputs import Clock

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
from domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from domain.resources import Page, RecurringRun

SpecLoader = Callable[[str], dict[str, Any]]
Walk = Callable[..., list[Page[Any]]]
CountRows = Callable[[str], int]
HOURLY = Trigger(cron="0 0 * * * *")


def schedule(
    services: Services,
    spec: dict[str, Any],
    name: str,
    *,
    experiment_id: str | None = None,
    trigger: Trigger | None = HOURLY,
    **kwargs: Any,
) -> RecurringRun:
    return services.recurring_runs.create(
        RecurringRunInput(
            display_name=name,
            experiment_id=experiment_id,
            source=PipelineSource(pipeline_spec=spec),
            trigger=trigger,
            **kwargs,
        )
    )


def filter_of(*predicates: dict[str, Any]) -> str:
    return json.dumps({"predicates": list(predicates)})


# --- create and get --------------------------------------------------------------------------


def test_create_and_get_a_cron_schedule(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    spec = compiled_spec("scalar_params")
    created = schedule(
        services,
        spec,
        "nightly",
        trigger=Trigger(
            cron="0  0 3 * * *",
            start_time="2026-04-01T00:00:00Z",
            end_time="2026-05-01T00:00:00+02:00",
        ),
        runtime_config={"parameters": {"count": 9}},
        max_concurrency="3",
        no_catchup=True,
        description="every night",
        service_account="runner",
    )
    assert created.cron == "0 0 3 * * *"  # whitespace normalised
    assert created.interval_seconds is None
    assert created.start_time == datetime(2026, 4, 1, tzinfo=UTC)
    assert created.end_time == datetime(2026, 4, 30, 22, tzinfo=UTC)
    assert (created.max_concurrency, created.no_catchup, created.status) == (3, True, "ENABLED")
    assert created.pipeline_spec == spec
    got = services.recurring_runs.get(created.recurring_run_id)
    assert got == created
    assert got.runtime_config == {"parameters": {"count": 9}}


def test_create_a_periodic_schedule_from_a_version(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    pipeline = services.pipelines.create_with_version(
        PipelineInput(name="p"), VersionInput(name="v", pipeline_spec=compiled_spec("loops"))
    )
    created = services.recurring_runs.create(
        RecurringRunInput(
            display_name="every-minute",
            source=PipelineSource(pipeline_id=pipeline.pipeline_id),
            trigger=Trigger(interval_seconds="60"),
            mode="DISABLE",
        )
    )
    assert (created.interval_seconds, created.cron, created.status) == (60, None, "DISABLED")
    assert created.max_concurrency == 1
    assert created.pipeline_spec is None  # a version reference, not an inline spec
    got = services.recurring_runs.get(created.recurring_run_id)
    assert got.pipeline_version_id is not None and got.pipeline_spec is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"display_name": " "}, r"^display_name: must not be empty"),
        ({"trigger": None}, r"^trigger: one of cron_schedule.cron or periodic_schedule"),
        ({"trigger": Trigger()}, r"^trigger: one of"),
        ({"trigger": Trigger(cron="* * *")}, r"^trigger.cron_schedule.cron: expected 5 or 6"),
        ({"trigger": Trigger(cron="0 0 99 * * *")}, r"^trigger.cron_schedule.cron: '0 0 99"),
        (
            {"trigger": Trigger(cron="0 * * * *", interval_seconds=5)},
            r"^trigger: give cron_schedule or periodic_schedule, not both",
        ),
        (
            {"trigger": Trigger(interval_seconds="soon")},
            r"^trigger.periodic_schedule.interval_second: must be an integer",
        ),
        (
            {"trigger": Trigger(interval_seconds=-5)},
            r"^trigger.periodic_schedule.interval_second: must be positive",
        ),
        (
            {"trigger": Trigger(interval_seconds=5, start_time="yesterday")},
            r"^trigger.periodic_schedule.start_time",
        ),
        (
            {
                "trigger": Trigger(
                    cron="0 * * * *",
                    start_time="2026-05-01T00:00:00Z",
                    end_time="2026-04-01T00:00:00Z",
                )
            },
            r"^trigger.cron_schedule.end_time: must be after start_time",
        ),
        ({"max_concurrency": 11}, r"^max_concurrency: must be from 1 to 10, got 11"),
        ({"max_concurrency": "many"}, r"^max_concurrency: must be an integer"),
        ({"mode": "SOMETIMES"}, r"^mode: must be ENABLE or DISABLE"),
        ({"plugins_input": "x"}, r"^plugins_input: must be an object"),
        ({"runtime_config": {"parameters": {"nope": 1}}}, r"unknown parameter 'nope'"),
        ({"experiment_id": "missing"}, r"experiment 'missing' does not exist"),
    ],
)
def test_create_refuses_invalid_fields(
    services: Services,
    compiled_spec: SpecLoader,
    count_rows: CountRows,
    changes: dict[str, Any],
    message: str,
) -> None:
    values: dict[str, Any] = {
        "display_name": "s",
        "source": PipelineSource(pipeline_spec=compiled_spec("scalar_params")),
        "trigger": HOURLY,
    }
    values.update(changes)
    with pytest.raises((InvalidArgument, NotFound), match=message):
        services.recurring_runs.create(RecurringRunInput(**values))
    assert count_rows("recurring_runs") == 0


def test_get_unknown_recurring_run_is_not_found(services: Services) -> None:
    for call in (
        services.recurring_runs.get,
        services.recurring_runs.enable,
        services.recurring_runs.disable,
        services.recurring_runs.delete,
    ):
        with pytest.raises(NotFound, match=r"recurring run 'missing' does not exist"):
            call("missing")


# --- names -----------------------------------------------------------------------------------


def test_names_are_unique_per_namespace_and_case_sensitive(
    services: Services, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    spec = compiled_spec("minimal")
    a1 = services.experiments.create("a1", "", "team-a")
    a2 = services.experiments.create("a2", "", "team-a")
    b = services.experiments.create("b", "", "team-b")
    schedule(services, spec, "nightly", experiment_id=a1.experiment_id)
    # Another experiment of the same namespace is the same namespace.
    with pytest.raises(
        AlreadyExists, match=r"recurring run 'nightly' already exists in namespace 'team-a'"
    ):
        schedule(services, spec, "nightly", experiment_id=a2.experiment_id)
    other = schedule(services, spec, "nightly", experiment_id=b.experiment_id)
    assert other.namespace == "team-b"
    schedule(services, spec, "Nightly", experiment_id=a1.experiment_id)
    schedule(services, spec, "NIGHTLY", experiment_id=a2.experiment_id)
    assert count_rows("recurring_runs") == 4


# --- enable, disable, delete -----------------------------------------------------------------


def test_enable_and_disable(services: Services, clock: Clock, compiled_spec: SpecLoader) -> None:
    created = schedule(services, compiled_spec("minimal"), "s")
    services.recurring_runs.disable(created.recurring_run_id)
    disabled = services.recurring_runs.get(created.recurring_run_id)
    assert disabled.status == "DISABLED"
    assert disabled.updated_at > created.updated_at
    services.recurring_runs.disable(created.recurring_run_id)  # again: no change
    assert services.recurring_runs.get(created.recurring_run_id).updated_at == disabled.updated_at
    services.recurring_runs.enable(created.recurring_run_id)
    assert services.recurring_runs.get(created.recurring_run_id).status == "ENABLED"


def test_a_schedule_in_an_archived_experiment_cannot_be_enabled(
    services: Services, compiled_spec: SpecLoader
) -> None:
    experiment = services.experiments.create("exp", "", "")
    created = schedule(
        services, compiled_spec("minimal"), "s", experiment_id=experiment.experiment_id
    )
    services.experiments.archive(experiment.experiment_id)
    with pytest.raises(FailedPrecondition, match=r"unarchive the experiment first"):
        services.recurring_runs.enable(created.recurring_run_id)
    assert services.recurring_runs.get(created.recurring_run_id).status == "DISABLED"


def test_delete_keeps_the_runs_it_started(
    services: Services, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    created = schedule(services, compiled_spec("minimal"), "s")
    run = services.runs.create(
        RunInput(
            display_name="s-1",
            source=PipelineSource(pipeline_spec=compiled_spec("minimal")),
            recurring_run_id=created.recurring_run_id,
        )
    )
    services.recurring_runs.delete(created.recurring_run_id)
    with pytest.raises(NotFound):
        services.recurring_runs.get(created.recurring_run_id)
    assert services.runs.get(run.run_id).recurring_run_id == created.recurring_run_id
    assert count_rows("recurring_runs") == 0
    # The name is free again.
    schedule(services, compiled_spec("minimal"), "s")


# --- listing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 5, 13, 100])
def test_walking_pages_yields_each_recurring_run_once(
    services: Services, clock: Clock, compiled_spec: SpecLoader, walk_pages: Walk, page_size: int
) -> None:
    spec = compiled_spec("minimal")
    created = [schedule(services, spec, f"s-{i:02d}") for i in range(13)]
    pages = walk_pages(
        lambda q: services.recurring_runs.list(q, experiment_id=None, namespace=None),
        page_size=page_size,
    )
    assert [r.recurring_run_id for p in pages for r in p.items] == [
        r.recurring_run_id for r in created
    ]
    assert {p.total_size for p in pages} == {13}
    assert len(pages) == -(-13 // page_size)
    assert all(r.pipeline_spec is None for p in pages for r in p.items)


def test_list_recurring_runs_scopes_filters_and_sorts(
    services: Services, clock: Clock, compiled_spec: SpecLoader, walk_pages: Walk
) -> None:
    spec = compiled_spec("minimal")
    a = services.experiments.create("a", "", "team-a")
    b = services.experiments.create("b", "", "team-b")
    for name, experiment in (("daily", a), ("hourly", b), ("weekly", a), ("monthly", b)):
        schedule(services, spec, name, experiment_id=experiment.experiment_id)
    weekly = services.recurring_runs.list(
        ListQuery(
            filter=filter_of(
                {"key": "display_name", "operation": "EQUALS", "string_value": "weekly"}
            )
        ),
        experiment_id=None,
        namespace=None,
    ).items[0]
    services.recurring_runs.disable(weekly.recurring_run_id)

    def names(
        experiment_id: str | None = None, namespace: str | None = None, **kwargs: Any
    ) -> list[str]:
        pages = walk_pages(
            lambda q: services.recurring_runs.list(
                q, experiment_id=experiment_id, namespace=namespace
            ),
            page_size=1,
            **kwargs,
        )
        assert {p.total_size for p in pages} == {sum(len(p.items) for p in pages)}
        return [r.display_name for p in pages for r in p.items]

    assert names() == ["daily", "hourly", "weekly", "monthly"]
    assert names(sort_by="display_name") == ["daily", "hourly", "monthly", "weekly"]
    assert names(sort_by="updated_at desc")[0] == "weekly"
    assert names(a.experiment_id) == ["daily", "weekly"]
    assert names(namespace="team-b", sort_by="display_name desc") == ["monthly", "hourly"]
    disabled = filter_of({"key": "status", "operation": "EQUALS", "string_value": "DISABLED"})
    assert names(filter=disabled) == ["weekly"]
    assert names(b.experiment_id, filter=disabled) == []
    with pytest.raises(NotFound):
        services.recurring_runs.list(ListQuery(), experiment_id="missing", namespace=None)
