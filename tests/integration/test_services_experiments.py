"""ExperimentService against each backend: names, archive/unarchive cascades, deletion
cascades, the default experiment, and listing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from service_inputs import Clock

from api_server.backends import RunStatusEvent, TaskStatusEvent
from api_server.rest.dependencies import Services
from api_server.services import ListQuery, PipelineSource, RecurringRunInput, RunInput, Trigger
from domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from domain.resources import Experiment, Page, RecurringRun, Run

SpecLoader = Callable[[str], dict[str, Any]]
Walk = Callable[..., list[Page[Any]]]


def new_run(services: Services, spec: dict[str, Any], experiment_id: str | None, name: str) -> Run:
    return services.runs.create(
        RunInput(
            display_name=name,
            experiment_id=experiment_id,
            source=PipelineSource(pipeline_spec=spec),
        )
    )


def new_recurring_run(
    services: Services, spec: dict[str, Any], experiment_id: str | None, name: str
) -> RecurringRun:
    return services.recurring_runs.create(
        RecurringRunInput(
            display_name=name,
            experiment_id=experiment_id,
            source=PipelineSource(pipeline_spec=spec),
            trigger=Trigger(cron="0 0 * * * *"),
        )
    )


def filter_of(*predicates: dict[str, Any]) -> str:
    return json.dumps({"predicates": list(predicates)})


# --- create and get -------------------------------------------------------------------------


def test_create_then_get_returns_the_same_experiment(services: Services, clock: Clock) -> None:
    created = services.experiments.create("training", "nightly jobs", "team-a")
    assert created.display_name == "training"
    assert created.namespace == "team-a"
    assert created.storage_state == "AVAILABLE"
    assert created.last_run_created_at is None
    assert services.experiments.get(created.experiment_id) == created


@pytest.mark.parametrize(
    ("name", "description", "namespace", "field"),
    [
        ("", "", "", "display_name"),
        ("   ", "", "", "display_name"),
        (None, "", "", "display_name"),
        ("x" * 256, "", "", "display_name"),
        ("ok", "d" * 65_536, "", "description"),
        ("ok", "", "n" * 64, "namespace"),
    ],
)
def test_create_refuses_invalid_fields(
    services: Services,
    count_rows: Callable[[str], int],
    name: str | None,
    description: str,
    namespace: str,
    field: str,
) -> None:
    with pytest.raises(InvalidArgument, match=rf"^{field}: "):
        services.experiments.create(name, description, namespace)
    assert count_rows("experiments") == 0


def test_longest_allowed_name_is_stored_whole(services: Services) -> None:
    name = "é" * 255  # 255 characters, 510 bytes: must fit the column on every backend
    created = services.experiments.create(name, "", "")
    assert services.experiments.get(created.experiment_id).display_name == name


def test_get_unknown_experiment_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound, match=r"experiment 'nope' does not exist"):
        services.experiments.get("nope")


def test_duplicate_name_in_a_namespace_is_refused(
    services: Services, count_rows: Callable[[str], int]
) -> None:
    services.experiments.create("exp", "", "team-a")
    message = "experiment 'exp' already exists in namespace 'team-a'"
    with pytest.raises(AlreadyExists, match=message):
        services.experiments.create("exp", "again", "team-a")
    assert count_rows("experiments") == 1


def test_same_name_in_another_namespace_is_allowed(services: Services) -> None:
    a = services.experiments.create("exp", "", "team-a")
    b = services.experiments.create("exp", "", "team-b")
    c = services.experiments.create("exp", "", "")
    assert len({a.experiment_id, b.experiment_id, c.experiment_id}) == 3


def test_names_are_case_sensitive(services: Services) -> None:
    upper = services.experiments.create("Exp", "", "team-a")
    lower = services.experiments.create("exp", "", "team-a")
    assert upper.experiment_id != lower.experiment_id
    shouting = services.experiments.create("EXP", "", "team-a")
    assert shouting.experiment_id not in (upper.experiment_id, lower.experiment_id)
    with pytest.raises(AlreadyExists, match=r"experiment 'Exp' already exists"):
        services.experiments.create("Exp", "", "team-a")
    page = services.experiments.list(
        ListQuery(
            filter=filter_of({"key": "display_name", "operation": "EQUALS", "string_value": "Exp"})
        ),
        "team-a",
    )
    assert [e.experiment_id for e in page.items] == [upper.experiment_id]
    assert page.total_size == 1


# --- archive and unarchive -------------------------------------------------------------------


def test_archive_archives_runs_and_disables_recurring_runs(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    spec = compiled_spec("minimal")
    experiment = services.experiments.create("exp", "", "")
    other = services.experiments.create("other", "", "")
    runs = [new_run(services, spec, experiment.experiment_id, f"r{i}") for i in range(3)]
    bystander = new_run(services, spec, other.experiment_id, "bystander")
    schedule = new_recurring_run(services, spec, experiment.experiment_id, "hourly")
    other_schedule = new_recurring_run(services, spec, other.experiment_id, "other-hourly")

    services.experiments.archive(experiment.experiment_id)

    assert services.experiments.get(experiment.experiment_id).storage_state == "ARCHIVED"
    assert {services.runs.get(r.run_id).storage_state for r in runs} == {"ARCHIVED"}
    assert services.recurring_runs.get(schedule.recurring_run_id).status == "DISABLED"
    # Nothing outside the experiment moves.
    assert services.experiments.get(other.experiment_id).storage_state == "AVAILABLE"
    assert services.runs.get(bystander.run_id).storage_state == "AVAILABLE"
    assert services.recurring_runs.get(other_schedule.recurring_run_id).status == "ENABLED"


def test_unarchive_restores_runs_but_recurring_runs_stay_disabled(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    spec = compiled_spec("minimal")
    experiment = services.experiments.create("exp", "", "")
    run = new_run(services, spec, experiment.experiment_id, "r")
    schedule = new_recurring_run(services, spec, experiment.experiment_id, "hourly")
    services.experiments.archive(experiment.experiment_id)
    services.experiments.unarchive(experiment.experiment_id)

    assert services.experiments.get(experiment.experiment_id).storage_state == "AVAILABLE"
    assert services.runs.get(run.run_id).storage_state == "AVAILABLE"
    assert services.recurring_runs.get(schedule.recurring_run_id).status == "DISABLED"
    services.recurring_runs.enable(schedule.recurring_run_id)
    assert services.recurring_runs.get(schedule.recurring_run_id).status == "ENABLED"


def test_runs_cannot_be_created_in_an_archived_experiment(
    services: Services, compiled_spec: SpecLoader, count_rows: Callable[[str], int]
) -> None:
    spec = compiled_spec("minimal")
    experiment = services.experiments.create("exp", "", "")
    services.experiments.archive(experiment.experiment_id)
    with pytest.raises(FailedPrecondition, match=r"^experiment_id: .* is archived"):
        new_run(services, spec, experiment.experiment_id, "r")
    with pytest.raises(FailedPrecondition, match=r"^experiment_id: .* is archived"):
        new_recurring_run(services, spec, experiment.experiment_id, "hourly")
    assert count_rows("runs") == 0
    assert count_rows("recurring_runs") == 0
    assert count_rows("pipeline_specs") == 0  # nothing half-written


def test_lifecycle_calls_on_an_unknown_experiment_are_not_found(services: Services) -> None:
    for call in (
        services.experiments.archive,
        services.experiments.unarchive,
        services.experiments.delete,
    ):
        with pytest.raises(NotFound, match=r"experiment 'missing' does not exist"):
            call("missing")
    with pytest.raises(NotFound, match=r"experiment 'missing' does not exist"):
        services.runs.create(
            RunInput(
                display_name="r",
                experiment_id="missing",
                source=PipelineSource(pipeline_spec={"x": 1}),
            )
        )


# --- delete ----------------------------------------------------------------------------------


def test_delete_removes_runs_tasks_histories_and_recurring_runs(
    services: Services,
    clock: Clock,
    compiled_spec: SpecLoader,
    count_rows: Callable[[str], int],
) -> None:
    spec = compiled_spec("minimal")
    doomed = services.experiments.create("doomed", "", "")
    kept = services.experiments.create("kept", "", "")
    for experiment in (doomed, kept):
        for i in range(2):
            run = new_run(services, spec, experiment.experiment_id, f"run-{i}")
            when = clock.advance(1)
            services.runs.report_status(
                RunStatusEvent(
                    run_id=run.run_id,
                    generation=0,
                    update_time=when,
                    state="RUNNING",
                    tasks=[
                        TaskStatusEvent(f"{run.run_id}-root", "RUNNING", when),
                        TaskStatusEvent(
                            f"{run.run_id}-leaf",
                            "RUNNING",
                            when,
                            parent_task_id=f"{run.run_id}-root",
                        ),
                    ],
                )
            )
        new_recurring_run(services, spec, experiment.experiment_id, f"{experiment.display_name}-s")
    before = {
        table: count_rows(table)
        for table in ("runs", "run_state_history", "run_tasks", "task_state_history")
    }
    assert before == {
        "runs": 4,
        "run_state_history": 8,
        "run_tasks": 8,
        "task_state_history": 8,
    }

    services.experiments.delete(doomed.experiment_id)

    with pytest.raises(NotFound):
        services.experiments.get(doomed.experiment_id)
    assert {table: count_rows(table) for table in before} == {
        table: count // 2 for table, count in before.items()
    }
    assert count_rows("recurring_runs") == 1
    assert count_rows("experiments") == 1
    remaining = services.runs.list(ListQuery(), experiment_id=None, namespace=None)
    assert {r.experiment_id for r in remaining.items} == {kept.experiment_id}
    assert all(len(services.runs.get(r.run_id).tasks or []) == 2 for r in remaining.items)
    with pytest.raises(NotFound):
        services.runs.list(ListQuery(), experiment_id=doomed.experiment_id, namespace=None)


# --- the default experiment ------------------------------------------------------------------


def test_default_experiment_is_created_once(
    services: Services, compiled_spec: SpecLoader, count_rows: Callable[[str], int]
) -> None:
    first = new_run(services, compiled_spec("minimal"), None, "first")
    second = new_run(services, compiled_spec("scalar_params"), None, "second")
    assert first.experiment_id == second.experiment_id
    default = services.experiments.get(first.experiment_id)
    assert (default.display_name, default.namespace) == ("Default", "")
    assert count_rows("experiments") == 1
    schedule = new_recurring_run(services, compiled_spec("minimal"), None, "s")
    assert schedule.experiment_id == default.experiment_id
    assert count_rows("experiments") == 1


def test_last_run_created_at_follows_the_newest_run(
    services: Services, clock: Clock, compiled_spec: SpecLoader
) -> None:
    experiment = services.experiments.create("exp", "", "")
    first = new_run(services, compiled_spec("minimal"), experiment.experiment_id, "a")
    assert services.experiments.get(experiment.experiment_id).last_run_created_at == (
        first.created_at
    )
    second = new_run(services, compiled_spec("minimal"), experiment.experiment_id, "b")
    assert second.created_at > first.created_at
    assert services.experiments.get(experiment.experiment_id).last_run_created_at == (
        second.created_at
    )


# --- listing ---------------------------------------------------------------------------------


def make_experiments(services: Services, count: int, namespace: str = "") -> list[Experiment]:
    return [services.experiments.create(f"exp-{i:03d}", "", namespace) for i in range(count)]


@pytest.mark.parametrize("page_size", [1, 5, 7, 23, 200])
def test_walking_pages_yields_each_experiment_once(
    services: Services, clock: Clock, walk_pages: Walk, page_size: int
) -> None:
    created = make_experiments(services, 23)
    pages = walk_pages(lambda q: services.experiments.list(q, None), page_size=page_size)
    ids = [e.experiment_id for page in pages for e in page.items]
    assert ids == [e.experiment_id for e in created]  # default order: created_at ascending
    assert {page.total_size for page in pages} == {23}
    assert len(pages) == -(-23 // page_size)
    assert pages[-1].next_page_token == ""


def test_list_is_scoped_to_a_namespace(services: Services, clock: Clock, walk_pages: Walk) -> None:
    mine = make_experiments(services, 6, "team-a")
    make_experiments(services, 4, "team-b")
    pages = walk_pages(lambda q: services.experiments.list(q, "team-a"), page_size=4)
    assert [e.experiment_id for p in pages for e in p.items] == [e.experiment_id for e in mine]
    assert {p.total_size for p in pages} == {6}
    assert services.experiments.list(ListQuery(), None).total_size == 10
    # A token from one namespace is refused in another.
    token = pages[0].next_page_token
    with pytest.raises(InvalidArgument, match=r"^page_token: "):
        services.experiments.list(ListQuery(page_size=4, page_token=token), "team-b")


def test_list_sorts_and_filters(services: Services, clock: Clock, walk_pages: Walk) -> None:
    names = ["delta", "alpha", "charlie", "bravo", "echo", "alpine"]
    created = {n: services.experiments.create(n, "", "") for n in names}
    services.experiments.archive(created["charlie"].experiment_id)
    services.experiments.archive(created["alpine"].experiment_id)

    def listed(**kwargs: Any) -> list[str]:
        pages = walk_pages(lambda q: services.experiments.list(q, None), page_size=2, **kwargs)
        return [e.display_name for p in pages for e in p.items]

    assert listed(sort_by="display_name") == sorted(names)
    assert listed(sort_by="display_name desc") == sorted(names, reverse=True)
    assert listed(sort_by="created_at desc") == list(reversed(names))
    archived = filter_of(
        {"key": "storage_state", "operation": "EQUALS", "string_value": "ARCHIVED"}
    )
    assert listed(filter=archived, sort_by="display_name") == ["alpine", "charlie"]
    available = filter_of(
        {"key": "storage_state", "operation": "NOT_EQUALS", "string_value": "ARCHIVED"},
        {"key": "display_name", "operation": "IS_SUBSTRING", "string_value": "l"},
    )
    assert listed(filter=available, sort_by="display_name") == ["alpha", "delta"]
    page = services.experiments.list(ListQuery(filter=archived, page_size=1), None)
    assert (len(page.items), page.total_size) == (1, 2)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (ListQuery(sort_by="description"), "sort_by"),
        (ListQuery(filter='{"predicates": [{"key": "colour"}]}'), "filter"),
        (ListQuery(page_size=-1), "page_size"),
        (ListQuery(page_token="garbage"), "page_token"),
    ],
)
def test_list_refuses_bad_parameters(services: Services, query: ListQuery, field: str) -> None:
    with pytest.raises(InvalidArgument, match=rf"^{field}"):
        services.experiments.list(query, None)
