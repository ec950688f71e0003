"""The embedded engine against a real database with real task processes: outputs flow,
failures, retries, terminate, the cache, resumption after a stop, and run retry.

Pipelines here are container components (``sh``), compiled with the real kfp compiler; the
Python-component path is covered end to end in ``tests/e2e``.
"""

# No ``from __future__ import annotations``: kfp reads the component signatures' real types.
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output, OutputPath
from pydantic import SecretStr

from api_server import build_services
from api_server.backends.embedded import EmbeddedEngine
from api_server.rest.dependencies import Services
from api_server.services import PipelineSource, RunInput
from api_server.storage import Database
from domain.errors import FailedPrecondition
from domain.resources import Run, Task
from domain.settings import Settings
from headrace.wiring import build_embedded
from tests.e2e.support import poll
from tests.s3_server import S3Server

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"}


@dsl.container_component
def double(n: int, marker: str, out: OutputPath(int)) -> dsl.ContainerSpec:  # type: ignore[valid-type]
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["sh", "-c", 'echo ran >> "$1"; echo $(( $0 * 2 )) > "$2"'],
        args=[n, marker, out],
    )


@dsl.container_component
def fail_until(marker: str, needed: int) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=[
            "sh",
            "-c",
            'echo try >> "$0"; n=$(wc -l < "$0"); '
            '[ "$n" -ge "$1" ] || { echo "attempt $n of $1 failed" >&2; exit 3; }',
        ],
        args=[marker, needed],
    )


@dsl.container_component
def sleeper(seconds: int, marker: str) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["sh", "-c", 'echo $$ >> "$1"; sleep "$0" & echo $! >> "$1"; wait'],
        args=[seconds, marker],
    )


@dsl.container_component
def write_text(text: str, data: Output[Dataset]) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["sh", "-c", 'mkdir -p "$(dirname "$1")"; printf "%s" "$0" > "$1"'],
        args=[text, data.path],
    )


@dsl.container_component
def read_text(data: Input[Dataset], out: OutputPath(str)) -> dsl.ContainerSpec:  # type: ignore[valid-type]
    return dsl.ContainerSpec(
        image="busybox:1.36", command=["sh", "-c", 'cat "$0" > "$1"'], args=[data.path, out]
    )


def compile_spec(pipeline: Any, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / f"{pipeline.name}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return dict(yaml.safe_load(path.read_text()))


@pytest.fixture
def engine_factory(settings: Settings, db: Database) -> Iterator[Callable[[], Services]]:
    started: list[EmbeddedEngine] = []

    def start() -> Services:
        backend, reader = build_embedded(settings, db)
        services = build_services(settings, db, backend, reader)
        backend.start(services.runs)
        started.append(backend)
        return services

    yield start
    for backend in started:
        backend.stop()


@pytest.fixture
def services(engine_factory: Callable[[], Services]) -> Services:
    return engine_factory()


def submit(services: Services, spec: dict[str, Any], **parameters: Any) -> str:
    run = services.runs.create(
        RunInput(
            display_name="engine test",
            source=PipelineSource(pipeline_spec=spec),
            runtime_config={"parameters": parameters},
        )
    )
    return run.run_id


def wait_for(
    services: Services, run_id: str, condition: Callable[[Run], bool], timeout: float = 60
) -> Run:
    deadline = time.monotonic() + timeout
    while True:
        run = services.runs.get(run_id)
        if condition(run):
            return run
        if time.monotonic() > deadline:
            tasks = [(t.display_name, t.state, t.error) for t in run.tasks or []]
            raise AssertionError(f"run {run_id} stuck in {run.state}: {tasks}")
        time.sleep(0.05)


def finished(services: Services, run_id: str, timeout: float = 60) -> Run:
    return wait_for(services, run_id, lambda r: r.state in TERMINAL, timeout)


def task(run: Run, name: str) -> Task:
    matches = [t for t in run.tasks or [] if t.display_name == name]
    assert len(matches) == 1, [t.display_name for t in run.tasks or []]
    return matches[0]


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_a_chain_passes_parameters_and_artifacts(services: Services, tmp_path: Path) -> None:
    marker = tmp_path / "marker"

    @dsl.pipeline(name="chain")
    def chain(n: int = 3) -> None:
        first = double(n=n, marker=str(marker))
        second = double(n=first.outputs["out"], marker=str(marker))
        written = write_text(text="hello artifacts").after(second)
        read_text(data=written.outputs["data"])

    run = finished(services, submit(services, compile_spec(chain, tmp_path), n=5))
    assert run.state == "SUCCEEDED", run.error
    assert task(run, "double").outputs == {"parameters": {"out": 10}}
    assert task(run, "double-2").outputs == {"parameters": {"out": 20}}
    assert task(run, "read-text").outputs == {"parameters": {"out": "hello artifacts"}}
    artifact = task(run, "write-text").outputs["artifacts"]["data"][0]  # type: ignore[index]
    assert Path(artifact["uri"]).read_text() == "hello artifacts"
    assert artifact["type"]["schemaTitle"] == "system.Dataset"
    assert lines(marker) == ["ran", "ran"]
    # The log of each task is kept and served.
    log = services.task_files.log(run.run_id, task(run, "double").task_id)
    assert log.finished and log.path is not None and log.path.exists()
    content = services.task_files.artifact(run.run_id, task(run, "write-text").task_id, "data")
    assert content == b"hello artifacts"


def test_a_failing_task_fails_the_run_with_its_message(services: Services, tmp_path: Path) -> None:
    @dsl.pipeline(name="failing")
    def failing() -> None:
        fail_until(marker=str(tmp_path / "m"), needed=99)

    run = finished(services, submit(services, compile_spec(failing, tmp_path)))
    assert run.state == "FAILED"
    assert run.error is not None and "attempt 1 of 99 failed" in run.error.message
    failed = task(run, "fail-until")
    assert failed.state == "FAILED" and failed.error is not None
    assert "exit code 3" in failed.error.message


def test_the_retry_policy_reruns_a_task(services: Services, tmp_path: Path) -> None:
    marker = tmp_path / "m"

    @dsl.pipeline(name="retrying")
    def retrying() -> None:
        fail_until(marker=str(marker), needed=3).set_retry(num_retries=3, backoff_duration="0s")

    run = finished(services, submit(services, compile_spec(retrying, tmp_path)))
    assert run.state == "SUCCEEDED", run.error
    attempts = (task(run, "fail-until").executor_detail or {})["attempts"]
    assert [a["exit_code"] for a in attempts] == [3, 3, 0]
    assert len(lines(marker)) == 3


def _sleeping_run(services: Services, tmp_path: Path) -> tuple[str, Path]:
    """A run whose one task sleeps two minutes, once its process and the sleep it forked
    have written their pids to the returned file."""
    marker = tmp_path / "pids"

    @dsl.pipeline(name="sleepy")
    def sleepy() -> None:
        sleeper(seconds=120, marker=str(marker))

    run_id = submit(services, compile_spec(sleepy, tmp_path))
    wait_for(services, run_id, lambda r: len(lines(marker)) == 2, timeout=30)
    return run_id, marker


def _all_gone(marker: Path) -> None:
    for pid in lines(marker):
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(int(pid)), pid


def test_terminate_kills_the_process_tree(services: Services, tmp_path: Path) -> None:
    run_id, marker = _sleeping_run(services, tmp_path)
    services.runs.terminate(run_id)
    # Within seconds: a task sleeping for two minutes must not be waited for.
    run = finished(services, run_id, timeout=20)
    assert run.state == "CANCELED"
    assert task(run, "sleeper").state == "CANCELED"
    _all_gone(marker)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_a_second_identical_run_hits_the_cache(services: Services, tmp_path: Path) -> None:
    marker = tmp_path / "m"

    @dsl.pipeline(name="cached")
    def cached(n: int = 2) -> None:
        double(n=n, marker=str(marker))

    spec = compile_spec(cached, tmp_path)
    first = finished(services, submit(services, spec))
    second = finished(services, submit(services, spec))
    assert first.state == second.state == "SUCCEEDED"
    hit = task(second, "double")
    assert (hit.executor_detail or {}).get("cached") is True
    assert (hit.executor_detail or {})["cached_from"]["run_id"] == first.run_id
    assert hit.outputs == {"parameters": {"out": 4}}
    assert lines(marker) == ["ran"]
    # Other inputs: another key.
    finished(services, submit(services, spec, n=3))
    assert lines(marker) == ["ran", "ran"]

    @dsl.pipeline(name="uncached")
    def uncached(n: int = 2) -> None:
        double(n=n, marker=str(marker)).set_caching_options(False)

    run = finished(services, submit(services, compile_spec(uncached, tmp_path)))
    assert (task(run, "double").executor_detail or {}).get("cached") is None
    assert lines(marker) == ["ran", "ran", "ran"]


def test_a_stopped_engine_resumes_without_rerunning_successes(
    engine_factory: Callable[[], Services], tmp_path: Path
) -> None:
    first_marker, sleep_marker, last_marker = tmp_path / "a", tmp_path / "b", tmp_path / "c"

    @dsl.pipeline(name="resumable")
    def resumable() -> None:
        first = double(n=1, marker=str(first_marker)).set_caching_options(False)
        slow = sleeper(seconds=2, marker=str(sleep_marker)).after(first)
        slow.set_caching_options(False)
        double(n=first.outputs["out"], marker=str(last_marker)).after(slow).set_caching_options(
            False
        )

    services = engine_factory()
    run_id = submit(services, compile_spec(resumable, tmp_path))
    wait_for(services, run_id, lambda r: len(lines(sleep_marker)) == 2, timeout=30)
    backend = services.runs.backend
    assert isinstance(backend, EmbeddedEngine)
    backend.stop()  # like a crash: the sleeping task is killed and stays RUNNING
    assert services.runs.get(run_id).state == "RUNNING"

    resumed = engine_factory()
    run = finished(resumed, run_id)
    assert run.state == "SUCCEEDED", run.error
    assert lines(first_marker) == ["ran"]  # succeeded before the stop: not run again
    assert len(lines(sleep_marker)) == 4  # interrupted: ran again
    assert task(run, "double-2").outputs == {"parameters": {"out": 4}}


def test_retrying_a_failed_run_reruns_only_what_failed(services: Services, tmp_path: Path) -> None:
    ok_marker, fail_marker = tmp_path / "ok", tmp_path / "fail"

    @dsl.pipeline(name="flaky")
    def flaky() -> None:
        first = double(n=1, marker=str(ok_marker)).set_caching_options(False)
        fail_until(marker=str(fail_marker), needed=2).after(first).set_caching_options(False)

    run_id = submit(services, compile_spec(flaky, tmp_path))
    assert finished(services, run_id).state == "FAILED"
    services.runs.retry(run_id)
    run = wait_for(
        services,
        run_id,
        lambda r: r.state == "SUCCEEDED" or (r.state == "FAILED" and r.generation == 1),
    )
    assert run.state == "SUCCEEDED", run.error
    assert lines(ok_marker) == ["ran"]
    assert len(lines(fail_marker)) == 2
    assert task(run, "fail-until").state == "SUCCEEDED"


def test_environment_variables_and_pipeline_placeholders(
    services: Services, tmp_path: Path
) -> None:
    @dsl.container_component
    def show(
        out: OutputPath(str), job: str = dsl.PIPELINE_JOB_NAME_PLACEHOLDER
    ) -> dsl.ContainerSpec:  # type: ignore[valid-type]
        return dsl.ContainerSpec(
            image="busybox:1.36",
            command=["sh", "-c", 'printf "%s|%s|%s" "$GREETING" "$0" "$HEADRACE_RUN_ID" > "$1"'],
            args=[job, out],
        )

    @dsl.pipeline(name="placeholders")
    def placeholders() -> None:
        show().set_env_variable("GREETING", "hi")

    run = finished(services, submit(services, compile_spec(placeholders, tmp_path)))
    assert run.state == "SUCCEEDED", run.error
    assert task(run, "show").outputs == {"parameters": {"out": f"hi|engine test|{run.run_id}"}}
    assert os.environ.get("GREETING") is None


def test_a_run_past_its_deadline_fails_and_its_tasks_stop(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    timed = settings.model_copy(update={"run_timeout_seconds": 1.5})
    backend, reader = build_embedded(timed, db)
    services = build_services(timed, db, backend, reader)
    backend.start(services.runs)
    try:
        marker = tmp_path / "pids"

        @dsl.pipeline(name="too-slow")
        def too_slow() -> None:
            sleeper(seconds=120, marker=str(marker))

        run = finished(services, submit(services, compile_spec(too_slow, tmp_path)), timeout=30)
        assert run.state == "FAILED"
        assert run.error is not None and "deadline of 1.5 seconds" in run.error.message
        assert task(run, "sleeper").state == "CANCELED"
    finally:
        backend.stop()


def test_an_executed_run_walks_through_the_real_ml_metadata_client(
    settings: Settings, db: Database, tmp_path: Path, mlmd_client: Callable[..., Any]
) -> None:
    from metadata_store import MetadataStore, start_server

    metadata = start_server(MetadataStore(db), port=0)
    backend, reader = build_embedded(settings, db, metadata)
    services = build_services(settings, db, backend, reader)
    backend.start(services.runs)
    try:

        @dsl.pipeline(name="lineage-walk")
        def lineage_walk() -> None:
            written = write_text(text="tracked").set_caching_options(False)
            read_text(data=written.outputs["data"]).set_caching_options(False)

        run = finished(services, submit(services, compile_spec(lineage_walk, tmp_path)))
        assert run.state == "SUCCEEDED", run.error
        producer, consumer = task(run, "write-text"), task(run, "read-text")
        # Task details lead into the metadata store: execution ids, artifact ids.
        assert producer.execution_id and consumer.execution_id
        data = (producer.outputs or {})["artifacts"]["data"][0]
        assert isinstance(data["artifact_id"], int)

        seen = mlmd_client(metadata.port, "--walk-run", run.run_id)
    finally:
        backend.stop()
        metadata.stop(grace=None)
    assert seen["pipelines"] == ["lineage-walk"]
    assert sorted(e[:3] for e in seen["executions"]) == [
        ["read-text", "system.ContainerExecution", "COMPLETE"],
        ["write-text", "system.ContainerExecution", "COMPLETE"],
    ]
    walk = {step["producer"]: step for step in seen["walk"]}
    assert walk["write-text"]["output"] == "data"
    assert walk["write-text"]["artifact_type"] == "system.Dataset"
    assert walk["write-text"]["uri"] == data["uri"]
    assert walk["write-text"]["consumers"] == ["read-text"]


def test_artifacts_under_an_s3_pipeline_root_flow_through_the_object_store(
    settings: Settings, db: Database, tmp_path: Path, s3_server: S3Server
) -> None:
    on_s3 = settings.model_copy(
        update={
            "artifact_s3_endpoint": s3_server.endpoint,
            "artifact_s3_access_key": s3_server.access_key,
            "artifact_s3_secret_key": SecretStr(s3_server.secret_key),
            "artifact_s3_secure": s3_server.secure,
            "artifact_s3_region": s3_server.region,
        }
    )
    backend, reader = build_embedded(on_s3, db)
    services = build_services(on_s3, db, backend, reader)
    backend.start(services.runs)
    try:

        @dsl.pipeline(name="s3-root")
        def s3_root() -> None:
            written = write_text(text="stored remotely").set_caching_options(False)
            read_text(data=written.outputs["data"]).set_caching_options(False)

        run_id = services.runs.create(
            RunInput(
                display_name="s3 root",
                source=PipelineSource(pipeline_spec=compile_spec(s3_root, tmp_path)),
                runtime_config={"pipeline_root": f"s3://{s3_server.bucket}/roots"},
            )
        ).run_id
        run = finished(services, run_id)
        assert run.state == "SUCCEEDED", run.error
        data = (task(run, "write-text").outputs or {})["artifacts"]["data"][0]
        assert data["uri"].startswith(f"s3://{s3_server.bucket}/roots/{run_id}/")
        key = data["uri"].removeprefix(f"s3://{s3_server.bucket}/")
        stored = s3_server.client().get_object(s3_server.bucket, key)
        try:
            assert stored.read() == b"stored remotely"
        finally:
            stored.close()
            stored.release_conn()
        # The downstream task read it back from the store; the API serves it too.
        assert task(run, "read-text").outputs == {"parameters": {"out": "stored remotely"}}
        served = services.task_files.artifact(run_id, task(run, "write-text").task_id, "data")
        assert served == b"stored remotely"
    finally:
        backend.stop()


class FlakySink:
    """The run service as the engine's sink, with report() failing while ``failing`` is set
    (as it does when the database is away)."""

    def __init__(self, runs: Any) -> None:
        self.runs = runs
        self.failing = False
        self.refused = 0

    def report(self, event: Any) -> bool:
        if self.failing:
            self.refused += 1
            raise ConnectionError("the database is away")
        return bool(self.runs.report(event))

    def unfinished_runs(self, run_id: str | None = None) -> Any:
        return self.runs.unfinished_runs(run_id)

    def reported_tasks(self, run_id: str) -> Any:
        return self.runs.reported_tasks(run_id)


def test_a_run_whose_transitions_cannot_be_written_resumes_from_the_database(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    backend, reader = build_embedded(settings, db)
    services = build_services(settings, db, backend, reader)
    sink = FlakySink(services.runs)
    backend.start(sink)
    try:
        first, second = tmp_path / "first", tmp_path / "second"

        @dsl.pipeline(name="outage")
        def outage() -> None:
            slow = sleeper(seconds=1, marker=str(first)).set_caching_options(False)
            double(n=2, marker=str(second)).after(slow).set_caching_options(False)

        run_id = submit(services, compile_spec(outage, tmp_path))
        wait_for(services, run_id, lambda r: len(lines(first)) == 2, timeout=30)
        sink.failing = True  # the first task's end cannot be recorded
        deadline = time.monotonic() + 30
        while sink.refused < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.refused >= 4, "the engine did not retry the failing write"
        assert services.runs.get(run_id).state == "RUNNING"
        assert not second.exists()  # nothing downstream ran on an unrecorded success
        sink.failing = False

        run = finished(services, run_id, timeout=60)
        assert run.state == "SUCCEEDED", run.error
        assert len(lines(first)) == 4  # its success was never recorded: it ran again
        assert lines(second) == ["ran"]
    finally:
        backend.stop()


def test_the_api_serves_only_artifacts_inside_the_artifact_folders(
    services: Services, tmp_path: Path
) -> None:
    outside = tmp_path / "not-an-artifact"
    outside.write_text("a file of the machine")

    @dsl.pipeline(name="importing-a-path")
    def importing_a_path() -> None:
        dsl.importer(artifact_uri=str(outside), artifact_class=Dataset, reimport=False)

    run = finished(services, submit(services, compile_spec(importing_a_path, tmp_path)))
    assert run.state == "SUCCEEDED", run.error
    importer = task(run, "importer")
    assert (importer.outputs or {})["artifacts"]["artifact"][0]["uri"] == str(outside)
    with pytest.raises(FailedPrecondition, match="outside this server's artifact folders"):
        services.task_files.artifact(run.run_id, importer.task_id, "artifact")


def test_terminate_during_a_retry_backoff_ends_the_task_at_once(
    services: Services, tmp_path: Path
) -> None:
    marker = tmp_path / "m"

    @dsl.pipeline(name="backing-off")
    def backing_off() -> None:
        fail_until(marker=str(marker), needed=99).set_retry(num_retries=3, backoff_duration="120s")

    run_id = submit(services, compile_spec(backing_off, tmp_path))
    wait_for(services, run_id, lambda r: len(lines(marker)) == 1, timeout=30)
    time.sleep(0.3)  # the attempt has ended; the next one waits two minutes
    services.runs.terminate(run_id)

    run = finished(services, run_id, timeout=20)
    assert run.state == "CANCELED"
    cancelled = task(run, "fail-until")
    assert cancelled.state == "CANCELED"
    attempts = (cancelled.executor_detail or {})["attempts"]
    assert [a["exit_code"] for a in attempts] == [3]
    assert len(lines(marker)) == 1


@dsl.container_component
def timed(marker: str, item: int) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=[
            "sh",
            "-c",
            'echo "start $(date +%s%N)" >> "$0"; sleep 0.3; echo "end $(date +%s%N)" >> "$0"',
        ],
        args=[marker, item],
    )


def test_no_more_jobs_run_at_once_than_the_engine_parallelism(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    marker = tmp_path / "m"
    backend, reader = build_embedded(settings.model_copy(update={"engine_parallelism": 2}), db)
    services = build_services(settings, db, backend, reader)
    backend.start(services.runs)
    try:

        @dsl.pipeline(name="wide")
        def wide() -> None:
            with dsl.ParallelFor(list(range(6))) as item:
                timed(marker=str(marker), item=item).set_caching_options(False)

        run = finished(services, submit(services, compile_spec(wide, tmp_path)))
    finally:
        backend.stop()
    assert run.state == "SUCCEEDED", run.error
    events = sorted(
        (int(stamp), 1 if kind == "start" else -1)
        for kind, stamp in (line.split() for line in marker.read_text().splitlines())
    )
    running, most = 0, 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert len(events) == 12
    assert most == 2  # the loop alone would run all six at once


@dsl.container_component
def touch_scratch(item: int) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=[
            "sh",
            "-c",
            '[ "$0" = 2 ] && echo kept > left-behind.txt; [ "$0" = 9 ] && exit 1; exit 0',
        ],
        args=[item],
    )


def _scratch_pipeline(items: list[int]) -> Any:
    @dsl.pipeline(name="scratch")
    def scratch() -> None:
        with dsl.ParallelFor(items, parallelism=1) as item:
            touch_scratch(item=item).set_caching_options(False)

    return scratch


def _scratch_folders(settings: Settings, run_id: str) -> list[str]:
    run_dir = settings.artifact_dir.resolve() / run_id
    return sorted(p.name for p in run_dir.iterdir() if p.name.startswith("scratch."))


def test_scratch_folders_left_empty_are_reused_and_removed_when_the_run_succeeds(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    run = finished(
        services, submit(services, compile_spec(_scratch_pipeline([0, 1, 2, 3, 4]), tmp_path))
    )
    assert run.state == "SUCCEEDED", run.error
    used = [
        (t.executor_detail or {})["attempts"][0]["scratch"]
        for t in run.tasks or []
        if t.display_name == "touch-scratch"
    ]
    # One at a time: items 0 and 1 share a folder; item 2 leaves a file in it, so 3 and 4
    # get a new one.
    assert sorted(used) == ["scratch.1"] * 3 + ["scratch.2"] * 2
    # Once the run has succeeded its scratch folders go; its log stays.
    poll(lambda: not _scratch_folders(settings, run.run_id))
    assert (settings.artifact_dir.resolve() / run.run_id / "tasks.log").exists()


def test_a_failed_run_keeps_its_scratch_folders(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    run = finished(services, submit(services, compile_spec(_scratch_pipeline([2, 9]), tmp_path)))
    assert run.state == "FAILED"
    time.sleep(0.3)  # a removal, if one were wrongly started, has had time to run
    assert _scratch_folders(settings, run.run_id) == ["scratch.1", "scratch.2"]
    kept = settings.artifact_dir.resolve() / run.run_id / "scratch.1" / "left-behind.txt"
    assert kept.read_text() == "kept\n"


def test_the_engine_removes_python_environments_left_unused_when_it_starts(
    settings: Settings, db: Database
) -> None:
    """Housekeeping runs at start (and every few hours): an environment no task used for
    HEADRACE_TASK_ENV_MAX_IDLE_DAYS goes, a recently used one stays."""
    idle_days = settings.model_copy(update={"task_env_max_idle_days": 7})
    root = idle_days.envs_dir.resolve()
    layouts = {}
    for key, days_ago in (("a" * 24, 8.0), ("b" * 24, 6.0)):
        target = root / "builds" / f"{key}-0a1b2c3d"
        (target / "bin").mkdir(parents=True)
        (root / key).symlink_to(target, target_is_directory=True)
        marker = root / "used" / key
        marker.parent.mkdir(exist_ok=True)
        marker.touch()
        when = time.time() - days_ago * 86_400
        os.utime(marker, (when, when))
        layouts[key] = target
    backend, reader = build_embedded(idle_days, db)
    services = build_services(idle_days, db, backend, reader)
    backend.start(services.runs)
    try:
        poll(lambda: not layouts["a" * 24].exists())
        assert not (root / ("a" * 24)).is_symlink()
        assert layouts["b" * 24].is_dir() and (root / ("b" * 24)).is_dir()
    finally:
        backend.stop()


def test_the_engine_removes_the_files_of_runs_deleted_while_it_was_not_told(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """A run deleted while the engine was down (or through another server) leaves its
    folder behind: housekeeping at start removes its log and scratch (not its outputs),
    and leaves the folders of runs that exist, and folders not named like a run, alone."""
    without_engine = build_services(settings, db)
    kept_run = without_engine.runs.create(
        RunInput(
            display_name="still here",
            source=PipelineSource(pipeline_spec=compile_spec(_scratch_pipeline([0]), tmp_path)),
        )
    )
    without_engine.runs.terminate(kept_run.run_id)  # CANCELED: nothing to resume
    root = settings.artifact_dir.resolve()
    deleted, kept, foreign = root / str(uuid.uuid4()), root / kept_run.run_id, root / "notes"
    for folder in (deleted, kept, foreign):
        (folder / "scratch.1").mkdir(parents=True)
        (folder / "tasks.log").write_text("log")
    (deleted / "step" / "data").parent.mkdir()
    (deleted / "step" / "data").write_text("an output")

    backend, reader = build_embedded(settings, db)
    services = build_services(settings, db, backend, reader)
    backend.start(services.runs)
    try:
        poll(lambda: not (deleted / "tasks.log").exists())
        assert not (deleted / "scratch.1").exists()
        assert (deleted / "step" / "data").read_text() == "an output"
        for folder in (kept, foreign):
            assert (folder / "tasks.log").exists() and (folder / "scratch.1").is_dir()
    finally:
        backend.stop()


def test_deleting_a_failed_run_removes_its_log_and_scratch_but_not_its_outputs(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    @dsl.pipeline(name="deleted-after-failing")
    def deleted_after_failing() -> None:
        written = write_text(text="an output").set_caching_options(False)
        fail_until(marker=str(tmp_path / "tries"), needed=99).set_caching_options(False).after(
            written
        )

    run = finished(services, submit(services, compile_spec(deleted_after_failing, tmp_path)))
    assert run.state == "FAILED"
    run_dir = settings.artifact_dir.resolve() / run.run_id
    output = Path(task(run, "write-text").outputs["artifacts"]["data"][0]["uri"])
    assert output.read_text() == "an output" and output.is_relative_to(run_dir)
    assert (run_dir / "tasks.log").exists() and _scratch_folders(settings, run.run_id)

    services.runs.delete(run.run_id)

    poll(lambda: not (run_dir / "tasks.log").exists())
    assert _scratch_folders(settings, run.run_id) == []
    assert output.read_text() == "an output"  # artifacts outlive their run, as in KFP


def test_deleting_a_running_run_stops_it_then_removes_its_folder(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    run_id, marker = _sleeping_run(services, tmp_path)
    run_dir = settings.artifact_dir.resolve() / run_id
    assert (run_dir / "tasks.log").exists()

    services.runs.delete(run_id)

    poll(lambda: not run_dir.exists(), timeout=20)  # nothing of it is left: no outputs
    _all_gone(marker)
