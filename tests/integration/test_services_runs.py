"""RunService against each backend: creation and validation, content-addressed specs,
lifecycle rules (archive, delete, terminate, retry) with their history rows, and listing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from service_inputs import Clock

from api_server import build_services
from api_server.backends import RunStatusEvent, StatusSink, SubmittedRun, TaskStatusEvent
from api_server.rest.dependencies import Services
from api_server.services import ListQuery, PipelineInput, PipelineSource, RunInput, VersionInput
from api_server.storage import Database
from domain.errors import FailedPrecondition, InvalidArgument, NotFound
from domain.resources import Page, Run
from domain.settings import Settings

SpecLoader = Callable[[str], dict[str, Any]]
Walk = Callable[..., list[Page[Any]]]
CountRows = Callable[[str], int]


def inline_run(
    services: Services,
    spec: dict[str, Any],
    name: str = "run",
    *,
    experiment_id: str | None = None,
    runtime_config: Any = None,
) -> Run:
    return services.runs.create(
        RunInput(
            display_name=name,
            experiment_id=experiment_id,
            source=PipelineSource(pipeline_spec=spec),
            runtime_config=runtime_config,
        )
    )


def report(services: Services, run: Run, state: str, when: Any, **kwargs: Any) -> bool:
    return services.runs.report_status(
        RunStatusEvent(
            run_id=run.run_id,
            generation=kwargs.pop("generation", run.generation),
            update_time=when,
            state=state,
            **kwargs,
        )
    )


def states(run: Run) -> list[str]:
    return [h.state for h in run.state_history or []]


def filter_of(*predicates: dict[str, Any]) -> str:
    return json.dumps({"predicates": list(predicates)})


@dataclass
class RecordingBackend:
    """A run backend that only records what the service layer asked of it."""

    reports_cancellation: bool = False
    submitted: list[SubmittedRun] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)
    retried: list[SubmittedRun] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    def start(self, sink: StatusSink) -> None:
        return None

    def submit(self, run: SubmittedRun) -> None:
        self.submitted.append(run)

    def terminate(self, run_id: str) -> None:
        self.terminated.append(run_id)

    def retry(self, run: SubmittedRun) -> None:
        self.retried.append(run)

    def forget(self, run_id: str) -> None:
        self.forgotten.append(run_id)

    def stop(self) -> None:
        return None


# --- create and get --------------------------------------------------------------------------


def test_created_run_is_pending_with_one_history_row(
    services: Services, clock: Clock, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    spec = compiled_spec("scalar_params")
    created = inline_run(
        services,
        spec,
        "first",
        runtime_config={"parameters": {"count": 3, "label": "x"}, "pipeline_root": "/tmp/r"},
    )
    assert (created.state, created.storage_state, created.generation) == ("PENDING", "AVAILABLE", 0)
    assert created.pipeline_spec == spec
    got = services.runs.get(created.run_id)
    assert states(got) == ["PENDING"]
    assert got.state_history and got.state_history[0].update_time == created.created_at
    assert got.pipeline_spec == spec
    assert got.runtime_config == {
        "parameters": {"count": 3, "label": "x"},
        "pipeline_root": "/tmp/r",
    }
    assert got.tasks == []
    assert got.finished_at is None
    assert (count_rows("runs"), count_rows("run_state_history")) == (1, 1)


def test_get_unknown_run_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound, match=r"run 'missing' does not exist"):
        services.runs.get("missing")


def test_the_backend_receives_the_run_with_its_parameters(
    settings: Settings, db: Database, compiled_spec: SpecLoader
) -> None:
    backend = RecordingBackend()
    services = build_services(settings, db, backend)
    spec = compiled_spec("scalar_params")
    run = inline_run(services, spec, runtime_config={"parameters": {"ratio": 2}})
    [submitted] = backend.submitted
    assert (submitted.run_id, submitted.generation) == (run.run_id, 0)
    assert submitted.pipeline_spec == spec
    assert submitted.parameters == {"ratio": 2}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"display_name": ""}, r"^display_name: must not be empty"),
        ({"display_name": "x" * 256}, r"^display_name: longer than 255"),
        ({"description": "d" * 65_536}, r"^description: longer than"),
        ({"service_account": "s" * 256}, r"^service_account: longer than"),
        ({"plugins_input": ["x"]}, r"^plugins_input: must be an object"),
        ({"runtime_config": "x"}, r"^runtime_config: must be an object"),
        ({"runtime_config": {"parameters": [1]}}, r"^runtime_config.parameters: must be an obj"),
        ({"runtime_config": {"pipeline_root": 3}}, r"^runtime_config.pipeline_root: must be a"),
        ({"source": PipelineSource(pipeline_spec={"nope": 1})}, r"^pipeline_spec: "),
        ({"source": PipelineSource(pipeline_spec="text")}, r"^pipeline_spec: must be a non-empty"),
    ],
)
def test_create_refuses_invalid_fields(
    services: Services,
    compiled_spec: SpecLoader,
    count_rows: CountRows,
    changes: dict[str, Any],
    message: str,
) -> None:
    experiment = services.experiments.create("exp", "", "")
    values: dict[str, Any] = {
        "display_name": "r",
        "experiment_id": experiment.experiment_id,
        "source": PipelineSource(pipeline_spec=compiled_spec("scalar_params")),
    }
    values.update(changes)
    with pytest.raises(InvalidArgument, match=message):
        services.runs.create(RunInput(**values))
    # Nothing half-written.
    assert (count_rows("runs"), count_rows("pipeline_specs")) == (0, 0)
    assert services.experiments.get(experiment.experiment_id) == experiment


# --- runtime parameters ----------------------------------------------------------------------


def spec_with_required_label(compiled_spec: SpecLoader) -> dict[str, Any]:
    spec = compiled_spec("scalar_params")
    label = spec["root"]["inputDefinitions"]["parameters"]["label"]
    label.pop("defaultValue")
    label.pop("isOptional")
    return spec


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"colour": "red"}, r"^runtime_config.parameters: unknown parameter 'colour'"),
        ({"count": "three"}, r"^runtime_config.parameters\['count'\]: must be an integer"),
        ({"count": 2.5}, r"^runtime_config.parameters\['count'\]: must be an integer"),
        ({"count": True}, r"^runtime_config.parameters\['count'\]: must be an integer"),
        ({"ratio": "1.5"}, r"^runtime_config.parameters\['ratio'\]: must be a number"),
        ({"enabled": "yes"}, r"^runtime_config.parameters\['enabled'\]: must be true or false"),
        ({"label": 7}, r"^runtime_config.parameters\['label'\]: must be a string"),
        ({"tags": "x,y"}, r"^runtime_config.parameters\['tags'\]: must be a list"),
        ({"options": [1]}, r"^runtime_config.parameters\['options'\]: must be an object"),
    ],
)
def test_runtime_parameters_are_checked_against_the_spec(
    services: Services,
    compiled_spec: SpecLoader,
    count_rows: CountRows,
    parameters: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        inline_run(
            services, compiled_spec("scalar_params"), runtime_config={"parameters": parameters}
        )
    assert count_rows("runs") == 0


def test_a_required_parameter_must_be_given(
    services: Services, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    spec = spec_with_required_label(compiled_spec)
    with pytest.raises(
        InvalidArgument, match=r"^runtime_config.parameters: missing required parameter 'label'"
    ):
        inline_run(services, spec, runtime_config={"parameters": {"count": 1}})
    run = inline_run(services, spec, runtime_config={"parameters": {"label": "given"}})
    assert run.runtime_config == {"parameters": {"label": "given"}}
    assert count_rows("runs") == 1


def test_parameters_of_a_version_run_are_checked_too(
    services: Services, compiled_spec: SpecLoader
) -> None:
    pipeline = services.pipelines.create_with_version(
        PipelineInput(name="p"), VersionInput(name="v", pipeline_spec=compiled_spec("loops"))
    )
    with pytest.raises(InvalidArgument, match=r"unknown parameter 'count' \(the pipeline's"):
        services.runs.create(
            RunInput(
                display_name="r",
                source=PipelineSource(pipeline_id=pipeline.pipeline_id),
                runtime_config={"parameters": {"count": 1}},
            )
        )


def test_a_run_names_its_spec_once(services: Services, compiled_spec: SpecLoader) -> None:
    pipeline = services.pipelines.create_with_version(
        PipelineInput(name="p"), VersionInput(name="v", pipeline_spec=compiled_spec("minimal"))
    )
    for source in (
        PipelineSource(pipeline_id=pipeline.pipeline_id, pipeline_spec=compiled_spec("minimal")),
        PipelineSource(),
    ):
        with pytest.raises(InvalidArgument, match=r"^pipeline_(spec|version_reference): "):
            services.runs.create(RunInput(display_name="r", source=source))
    assert services.runs.list(ListQuery(), experiment_id=None, namespace=None).total_size == 0


def test_a_run_from_a_version_deleted_after_use_is_not_found(
    services: Services, compiled_spec: SpecLoader
) -> None:
    # The first run reads the version (and remembers its pipeline and spec); a later one
    # relies on the check made where the run is written.
    pipeline = services.pipelines.create_with_version(
        PipelineInput(name="p"), VersionInput(name="v", pipeline_spec=compiled_spec("minimal"))
    )
    version = services.pipelines.list_versions(pipeline.pipeline_id, ListQuery()).items[0]
    source = PipelineSource(pipeline_version_id=version.pipeline_version_id)
    first = services.runs.create(RunInput(display_name="first", source=source))
    assert first.pipeline_id == pipeline.pipeline_id
    with pytest.raises(InvalidArgument, match=r"does not belong to pipeline 'other'"):
        services.runs.create(
            RunInput(
                display_name="elsewhere",
                source=PipelineSource(
                    pipeline_id="other", pipeline_version_id=version.pipeline_version_id
                ),
            )
        )

    services.pipelines.delete_version(pipeline.pipeline_id, version.pipeline_version_id)
    with pytest.raises(NotFound, match=r"pipeline version .* does not exist"):
        services.runs.create(RunInput(display_name="late", source=source))
    with pytest.raises(NotFound, match=r"pipeline version .* does not exist"):
        services.runs.create(RunInput(display_name="later", source=source))
    runs = services.runs.list(ListQuery(), experiment_id=None, namespace=None)
    assert [r.display_name for r in runs.items] == ["first"]
    assert runs.total_size == 1


def test_well_typed_parameters_are_accepted(services: Services, compiled_spec: SpecLoader) -> None:
    parameters = {
        "count": 4.0,  # an integral float is an integer (JSON clients send 4.0)
        "ratio": 3,
        "enabled": False,
        "label": "",
        "tags": [],
        "options": {"depth": 1},
    }
    run = inline_run(
        services, compiled_spec("scalar_params"), runtime_config={"parameters": parameters}
    )
    assert services.runs.get(run.run_id).runtime_config == {"parameters": parameters}


# --- specs are stored once -------------------------------------------------------------------


def test_inline_runs_share_one_spec_row_per_distinct_content(
    services: Services, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    loops = compiled_spec("loops")
    for i in range(3):
        inline_run(services, compiled_spec("loops"), f"loops-{i}")
    # The same content with its keys in another order is the same spec.
    reordered = dict(reversed(list(loops.items())))
    inline_run(services, reordered, "loops-reordered")
    assert count_rows("pipeline_specs") == 1
    inline_run(services, compiled_spec("branches"), "branches")
    pipeline = services.pipelines.create_with_version(
        PipelineInput(name="p"), VersionInput(name="v", pipeline_spec=compiled_spec("branches"))
    )
    services.runs.create(
        RunInput(
            display_name="from-version", source=PipelineSource(pipeline_id=pipeline.pipeline_id)
        )
    )
    assert count_rows("pipeline_specs") == 2
    assert count_rows("runs") == 6


def test_spec_rows_are_shared_across_service_instances(
    services: Services,
    settings: Settings,
    db: Database,
    compiled_spec: SpecLoader,
    count_rows: CountRows,
) -> None:
    # A second replica (its own spec cache) saving the same content adds no row.
    inline_run(services, compiled_spec("loops"), "here")
    other = build_services(settings, db)
    run = inline_run(other, compiled_spec("loops"), "there")
    assert count_rows("pipeline_specs") == 1
    assert services.runs.get(run.run_id).pipeline_spec == compiled_spec("loops")


# --- archive, unarchive, delete --------------------------------------------------------------


def test_archive_and_unarchive_a_run(services: Services, compiled_spec: SpecLoader) -> None:
    run = inline_run(services, compiled_spec("minimal"))
    services.runs.archive(run.run_id)
    assert services.runs.get(run.run_id).storage_state == "ARCHIVED"
    services.runs.unarchive(run.run_id)
    assert services.runs.get(run.run_id).storage_state == "AVAILABLE"
    for call in (services.runs.archive, services.runs.unarchive, services.runs.delete):
        with pytest.raises(NotFound, match=r"run 'missing' does not exist"):
            call("missing")


def test_a_run_in_an_archived_experiment_cannot_be_unarchived(
    services: Services, compiled_spec: SpecLoader
) -> None:
    experiment = services.experiments.create("exp", "", "")
    run = inline_run(services, compiled_spec("minimal"), experiment_id=experiment.experiment_id)
    services.experiments.archive(experiment.experiment_id)
    with pytest.raises(FailedPrecondition, match=r"unarchive the experiment first"):
        services.runs.unarchive(run.run_id)
    assert services.runs.get(run.run_id).storage_state == "ARCHIVED"


def test_creating_in_an_experiment_archived_or_deleted_after_use_says_which(
    services: Services, compiled_spec: SpecLoader
) -> None:
    # The first run reads the experiment (and remembers its namespace); later ones rely on
    # the claim at the end of the transaction, which must still refuse precisely.
    experiment = services.experiments.create("used", "", "team-a")
    first = inline_run(services, compiled_spec("minimal"), experiment_id=experiment.experiment_id)
    assert first.namespace == "team-a"
    again = inline_run(services, compiled_spec("minimal"), experiment_id=experiment.experiment_id)
    assert again.namespace == "team-a"

    services.experiments.archive(experiment.experiment_id)
    with pytest.raises(FailedPrecondition, match=r"is archived; unarchive it first"):
        inline_run(services, compiled_spec("minimal"), experiment_id=experiment.experiment_id)
    services.experiments.delete(experiment.experiment_id)
    with pytest.raises(NotFound, match=r"does not exist"):
        inline_run(services, compiled_spec("minimal"), experiment_id=experiment.experiment_id)
    with pytest.raises(NotFound, match=r"does not exist"):
        inline_run(services, compiled_spec("minimal"), experiment_id="never-was")


def test_delete_removes_the_run_with_its_tasks_and_histories(
    settings: Settings,
    db: Database,
    clock: Clock,
    compiled_spec: SpecLoader,
    count_rows: CountRows,
) -> None:
    backend = RecordingBackend()
    services = build_services(settings, db, backend)
    services.runs.ctx.clock = clock
    doomed = inline_run(services, compiled_spec("minimal"), "doomed")
    kept = inline_run(services, compiled_spec("minimal"), "kept")
    for run in (doomed, kept):
        report(
            services,
            run,
            "RUNNING",
            clock.advance(1),
            tasks=[TaskStatusEvent(f"{run.run_id}-t", "RUNNING", clock.now)],
        )
    services.runs.delete(doomed.run_id)
    assert backend.terminated == [doomed.run_id]  # it was still running
    with pytest.raises(NotFound):
        services.runs.get(doomed.run_id)
    assert {t: count_rows(t) for t in ("runs", "run_tasks", "task_state_history")} == {
        "runs": 1,
        "run_tasks": 1,
        "task_state_history": 1,
    }
    assert count_rows("run_state_history") == 2
    assert states(services.runs.get(kept.run_id)) == ["PENDING", "RUNNING"]
    report(services, kept, "SUCCEEDED", clock.advance(1))
    services.runs.delete(kept.run_id)
    assert backend.terminated == [doomed.run_id]  # a finished run needs no stopping
    assert backend.forgotten == [doomed.run_id, kept.run_id]  # every deleted run's files go
    assert count_rows("pipeline_specs") == 1  # specs outlive the runs that used them


# --- terminate and retry ---------------------------------------------------------------------


def test_terminate_cancels_a_pending_run_once(
    services: Services, clock: Clock, compiled_spec: SpecLoader, count_rows: CountRows
) -> None:
    run = inline_run(services, compiled_spec("minimal"))
    services.runs.terminate(run.run_id)
    got = services.runs.get(run.run_id)
    assert got.state == "CANCELED"
    assert states(got) == ["PENDING", "CANCELED"]
    assert got.finished_at is not None and got.finished_at > run.created_at
    services.runs.terminate(run.run_id)  # again: nothing changes
    assert states(services.runs.get(run.run_id)) == ["PENDING", "CANCELED"]
    assert count_rows("run_state_history") == 2
    with pytest.raises(NotFound):
        services.runs.terminate("missing")


def test_terminate_with_a_reporting_backend_asks_and_waits(
    settings: Settings, db: Database, clock: Clock, compiled_spec: SpecLoader
) -> None:
    backend = RecordingBackend(reports_cancellation=True)
    services = build_services(settings, db, backend)
    services.runs.ctx.clock = clock
    run = inline_run(services, compiled_spec("minimal"))
    report(services, run, "RUNNING", clock.advance(1))
    services.runs.terminate(run.run_id)
    assert backend.terminated == [run.run_id]
    assert services.runs.get(run.run_id).state == "CANCELING"
    services.runs.terminate(run.run_id)  # already stopping: not asked twice
    assert backend.terminated == [run.run_id]
    assert report(services, run, "RUNNING", clock.advance(1)) is False  # no way back
    assert report(services, run, "CANCELED", clock.advance(1)) is True
    assert states(services.runs.get(run.run_id)) == ["PENDING", "RUNNING", "CANCELING", "CANCELED"]


@pytest.mark.parametrize("final", ["SUCCEEDED", "FAILED", "SKIPPED"])
def test_a_finished_run_cannot_be_terminated(
    services: Services, clock: Clock, compiled_spec: SpecLoader, final: str
) -> None:
    run = inline_run(services, compiled_spec("minimal"))
    report(services, run, final, clock.advance(1))
    with pytest.raises(FailedPrecondition, match=rf"has already finished \({final}\)"):
        services.runs.terminate(run.run_id)
    assert states(services.runs.get(run.run_id)) == ["PENDING", final]


@pytest.mark.parametrize("state", ["PENDING", "RUNNING", "SUCCEEDED", "SKIPPED"])
def test_only_failed_or_canceled_runs_can_be_retried(
    services: Services, clock: Clock, compiled_spec: SpecLoader, state: str
) -> None:
    run = inline_run(services, compiled_spec("minimal"))
    if state != "PENDING":
        report(services, run, state, clock.advance(1))
    with pytest.raises(FailedPrecondition, match=rf"is {state}; only FAILED or CANCELED runs"):
        services.runs.retry(run.run_id)
    assert services.runs.get(run.run_id).generation == 0
    with pytest.raises(NotFound):
        services.runs.retry("missing")


def test_retry_starts_a_new_generation(
    settings: Settings, db: Database, clock: Clock, compiled_spec: SpecLoader
) -> None:
    backend = RecordingBackend()
    services = build_services(settings, db, backend)
    services.runs.ctx.clock = clock
    spec = compiled_spec("scalar_params")
    run = inline_run(services, spec, runtime_config={"parameters": {"count": 2}})
    report(services, run, "RUNNING", clock.advance(1))
    error = {"code": 2, "message": "step failed", "details": []}
    report(services, run, "FAILED", clock.advance(1), error=error)
    failed = services.runs.get(run.run_id)
    assert failed.error is not None and failed.error.message == "step failed"
    assert failed.finished_at is not None

    services.runs.retry(run.run_id)

    retried = services.runs.get(run.run_id)
    assert (retried.state, retried.generation, retried.error, retried.finished_at) == (
        "PENDING",
        1,
        None,
        None,
    )
    assert states(retried) == ["PENDING", "RUNNING", "FAILED", "PENDING"]
    [again] = backend.retried
    assert (again.run_id, again.generation, again.parameters) == (run.run_id, 1, {"count": 2})
    assert again.pipeline_spec == spec
    # Cancelled runs retry too, and each retry adds a generation.
    services.runs.terminate(run.run_id)
    services.runs.retry(run.run_id)
    assert services.runs.get(run.run_id).generation == 2
    assert states(services.runs.get(run.run_id))[-2:] == ["CANCELED", "PENDING"]


# --- listing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 6, 25, 26, 200])
def test_walking_pages_yields_each_run_once(
    services: Services, clock: Clock, compiled_spec: SpecLoader, walk_pages: Walk, page_size: int
) -> None:
    spec = compiled_spec("minimal")
    created = [inline_run(services, spec, f"run-{i:02d}") for i in range(25)]

    def call(query: ListQuery) -> Page[Run]:
        return services.runs.list(query, experiment_id=None, namespace=None)

    pages = walk_pages(call, page_size=page_size)
    assert [r.run_id for p in pages for r in p.items] == [r.run_id for r in created]
    assert {p.total_size for p in pages} == {25}
    assert len(pages) == -(-25 // page_size)
    backwards = walk_pages(call, page_size=page_size, sort_by="created_at desc")
    assert [r.run_id for p in backwards for r in p.items] == [r.run_id for r in reversed(created)]
    # Lists are projections: no spec, history or tasks.
    assert all(r.pipeline_spec is None and r.tasks is None for p in pages for r in p.items)


def test_list_runs_by_experiment_and_namespace(
    services: Services, clock: Clock, compiled_spec: SpecLoader, walk_pages: Walk
) -> None:
    spec = compiled_spec("minimal")
    a1 = services.experiments.create("a1", "", "team-a")
    a2 = services.experiments.create("a2", "", "team-a")
    b = services.experiments.create("b", "", "team-b")
    made: dict[str, list[str]] = {}
    for experiment, count in ((a1, 5), (a2, 3), (b, 4)):
        made[experiment.experiment_id] = [
            inline_run(services, spec, f"r{i}", experiment_id=experiment.experiment_id).run_id
            for i in range(count)
        ]

    def ids(experiment_id: str | None, namespace: str | None) -> list[str]:
        pages = walk_pages(
            lambda q: services.runs.list(q, experiment_id=experiment_id, namespace=namespace),
            page_size=2,
        )
        assert {p.total_size for p in pages} == {sum(len(p.items) for p in pages)}
        return [r.run_id for p in pages for r in p.items]

    assert ids(a1.experiment_id, None) == made[a1.experiment_id]
    assert ids(a2.experiment_id, "") == made[a2.experiment_id]
    assert ids(None, "team-a") == made[a1.experiment_id] + made[a2.experiment_id]
    assert ids(None, "team-b") == made[b.experiment_id]
    assert ids(None, "team-c") == []
    assert len(ids(None, None)) == 12
    with pytest.raises(NotFound, match=r"experiment 'missing' does not exist"):
        services.runs.list(ListQuery(), experiment_id="missing", namespace=None)


def test_list_runs_filters_and_sorts(
    services: Services, clock: Clock, compiled_spec: SpecLoader, walk_pages: Walk
) -> None:
    spec = compiled_spec("minimal")
    runs = {name: inline_run(services, spec, name) for name in ("d", "a", "e", "b", "c", "f")}
    report(services, runs["a"], "RUNNING", clock.advance(1))
    report(services, runs["b"], "SUCCEEDED", clock.advance(1))
    report(services, runs["c"], "FAILED", clock.advance(1))
    report(services, runs["e"], "SUCCEEDED", clock.advance(1))
    services.runs.archive(runs["f"].run_id)

    def names(**kwargs: Any) -> list[str]:
        pages = walk_pages(
            lambda q: services.runs.list(q, experiment_id=None, namespace=None),
            page_size=2,
            **kwargs,
        )
        return [r.display_name for p in pages for r in p.items]

    assert names(sort_by="display_name") == ["a", "b", "c", "d", "e", "f"]
    assert names(sort_by="name desc") == ["f", "e", "d", "c", "b", "a"]
    succeeded = filter_of({"key": "state", "operation": "EQUALS", "string_value": "SUCCEEDED"})
    assert names(filter=succeeded, sort_by="display_name") == ["b", "e"]
    unfinished = filter_of(
        {"key": "state", "operation": "IN", "string_values": {"values": ["PENDING", "RUNNING"]}}
    )
    assert names(filter=unfinished) == ["d", "a", "f"]
    archived = filter_of(
        {"key": "storage_state", "operation": "EQUALS", "string_value": "ARCHIVED"}
    )
    assert names(filter=archived) == ["f"]
    # finished_at is NULL for unfinished runs: they sort lowest (among themselves by id).
    ascending = names(sort_by="finished_at")
    assert (set(ascending[:3]), ascending[3:]) == ({"a", "d", "f"}, ["b", "c", "e"])
    descending = names(sort_by="finished_at desc")
    assert (descending[:3], descending[3:]) == (["e", "c", "b"], list(reversed(ascending[:3])))
    finished_after = filter_of(
        {
            "key": "finished_at",
            "operation": "GREATER_THAN",
            "timestamp_value": runs["a"].created_at.isoformat(),
        }
    )
    assert names(filter=finished_after, sort_by="finished_at desc") == ["e", "c", "b"]
    with pytest.raises(InvalidArgument, match=r"^sort_by: cannot sort on 'description'"):
        names(sort_by="description")
    with pytest.raises(InvalidArgument, match=r"^filter"):
        names(filter=filter_of({"key": "state", "operation": "EQUALS", "string_value": "DONE"}))
