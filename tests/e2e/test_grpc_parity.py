"""REST and gRPC answer alike: the same reads, lists and errors through both front ends of one
real ``headrace serve``, compared field by field, on SQLite and PostgreSQL.

The resources are made by a client built from our own protos (and some through REST), so
each transport also reads what the other wrote. A gRPC message is compared in its proto3
JSON form (proto field names, enum names, RFC 3339 timestamps, int64 as strings), which is
the shape KFP's REST gateway writes; fields at their default are left out on both sides, as
protojson leaves them out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from api_server.grpc_api.generated import (
    experiment_pb2,
    experiment_pb2_grpc,
    healthz_pb2_grpc,
    pipeline_pb2,
    pipeline_pb2_grpc,
    recurring_run_pb2,
    recurring_run_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    runtime_config_pb2,
)
from tests.conftest import DATABASES, create_database, drop_database
from tests.e2e.conftest import RunningServer, start_server, stop_server
from tests.e2e.support import API, corpus_documents, filter_json, predicate, unique

pytestmark = pytest.mark.e2e

PARITY_DATABASES = [name for name in DATABASES if name in ("sqlite", "postgresql")]
RUNS_PER_TRANSPORT = 6
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


# --- the server and its two clients ----------------------------------------------------------


@dataclass
class Clients:
    rest: httpx.Client
    pipelines: pipeline_pb2_grpc.PipelineServiceStub
    experiments: experiment_pb2_grpc.ExperimentServiceStub
    runs: run_pb2_grpc.RunServiceStub
    recurring_runs: recurring_run_pb2_grpc.RecurringRunServiceStub
    healthz: healthz_pb2_grpc.HealthzServiceStub


@pytest.fixture(scope="module", params=PARITY_DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """``headrace serve`` on a database of its own: SQLite, or a new PostgreSQL database."""
    backend = request.param
    tmp: Path = tmp_path_factory.mktemp(f"parity-{backend}")
    env, token = {"HEADRACE_RUN_ENGINE": "none"}, None
    if backend != "sqlite":
        url, token = create_database(backend, tmp)
        env["HEADRACE_DATABASE_URL"] = url
    process, running = start_server(tmp / "data", extra_env=env)
    try:
        yield running
    finally:
        stop_server(process)
        drop_database(backend, token)
    assert "Traceback" not in running.log(), running.log()[-4000:]
    assert "gRPC server stopped" in running.log(), running.log()[-4000:]


@pytest.fixture(scope="module")
def clients(server: RunningServer) -> Iterator[Clients]:
    with (
        httpx.Client(base_url=server.url + API, timeout=30) as rest,
        grpc.insecure_channel(server.grpc_target) as channel,
    ):
        yield Clients(
            rest,
            pipeline_pb2_grpc.PipelineServiceStub(channel),
            experiment_pb2_grpc.ExperimentServiceStub(channel),
            run_pb2_grpc.RunServiceStub(channel),
            recurring_run_pb2_grpc.RecurringRunServiceStub(channel),
            healthz_pb2_grpc.HealthzServiceStub(channel),
        )


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def rest_ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    return body


# --- what both transports work on ---------------------------------------------------------


@dataclass
class World:
    pipeline_id: str
    pipeline_name: str
    version_id: str  # made over gRPC
    rest_version_id: str  # made over REST
    experiment_id: str  # made over REST
    grpc_experiment_id: str
    grpc_run_ids: list[str]
    rest_run_ids: list[str]
    inline_run_id: str
    archived_run_id: str
    canceled_run_id: str
    grpc_recurring_run_id: str
    rest_recurring_run_id: str
    created: dict[str, Message]  # gRPC create responses, by resource id


@pytest.fixture(scope="module")
def world(clients: Clients) -> World:
    """Resources made through both transports: pipelines, versions, experiments, runs
    (by reference and inline, archived and canceled) and recurring runs."""
    created: dict[str, Message] = {}
    spec = corpus_documents("scalar_params")[0]
    name = unique("parity")
    pipeline = clients.pipelines.CreatePipelineAndVersion(
        pipeline_pb2.CreatePipelineAndVersionRequest(
            pipeline=pipeline_pb2.Pipeline(
                name=name, description="made over gRPC", tags={"t": "1"}
            ),
            pipeline_version=pipeline_pb2.PipelineVersion(
                name=f"{name}-v1", pipeline_spec=struct(spec)
            ),
        )
    )
    created[pipeline.pipeline_id] = pipeline
    versions = clients.pipelines.ListPipelineVersions(
        pipeline_pb2.ListPipelineVersionsRequest(pipeline_id=pipeline.pipeline_id)
    )
    version_id = versions.pipeline_versions[0].pipeline_version_id
    rest_version = rest_ok(
        clients.rest.post(
            f"/pipelines/{pipeline.pipeline_id}/versions",
            json={"name": f"{name}-v2", "pipeline_spec": corpus_documents("minimal")[0]},
        )
    )
    experiment = rest_ok(clients.rest.post("/experiments", json={"display_name": unique("rest")}))
    grpc_experiment = clients.experiments.CreateExperiment(
        experiment_pb2.CreateExperimentRequest(
            experiment=experiment_pb2.Experiment(display_name=unique("grpc"), description="d")
        )
    )
    created[grpc_experiment.experiment_id] = grpc_experiment

    grpc_run_ids, rest_run_ids = [], []
    for index in range(RUNS_PER_TRANSPORT):
        run = clients.runs.CreateRun(
            run_pb2.CreateRunRequest(
                run=run_pb2.Run(
                    experiment_id=experiment["experiment_id"],
                    display_name=f"grpc-{index}",
                    pipeline_version_reference=run_pb2.PipelineVersionReference(
                        pipeline_id=pipeline.pipeline_id, pipeline_version_id=version_id
                    ),
                    runtime_config=runtime_config_pb2.RuntimeConfig(
                        parameters={"count": struct_pb2.Value(number_value=index)}
                    ),
                )
            )
        )
        created[run.run_id] = run
        grpc_run_ids.append(run.run_id)
        body = {
            "experiment_id": experiment["experiment_id"],
            "display_name": f"rest-{index}",
            "pipeline_version_reference": {
                "pipeline_id": pipeline.pipeline_id,
                "pipeline_version_id": version_id,
            },
            "runtime_config": {"parameters": {"count": index, "label": "rest"}},
        }
        rest_run_ids.append(rest_ok(clients.rest.post("/runs", json=body))["run_id"])
    inline = clients.runs.CreateRun(
        run_pb2.CreateRunRequest(
            run=run_pb2.Run(
                experiment_id=grpc_experiment.experiment_id,
                display_name="inline",
                pipeline_spec=struct(corpus_documents("minimal")[0]),
            )
        )
    )
    created[inline.run_id] = inline
    clients.runs.ArchiveRun(run_pb2.ArchiveRunRequest(run_id=grpc_run_ids[0]))
    rest_ok(clients.rest.post(f"/runs/{rest_run_ids[0]}:terminate"))

    recurring = clients.recurring_runs.CreateRecurringRun(
        recurring_run_pb2.CreateRecurringRunRequest(
            recurring_run=recurring_run_pb2.RecurringRun(
                display_name=unique("cron"),
                experiment_id=experiment["experiment_id"],
                pipeline_version_reference=run_pb2.PipelineVersionReference(
                    pipeline_id=pipeline.pipeline_id, pipeline_version_id=version_id
                ),
                trigger=recurring_run_pb2.Trigger(
                    cron_schedule=recurring_run_pb2.CronSchedule(cron="0 0 3 * * *")
                ),
                max_concurrency=2,
                mode=recurring_run_pb2.RecurringRun.DISABLE,
            )
        )
    )
    created[recurring.recurring_run_id] = recurring
    rest_recurring = rest_ok(
        clients.rest.post(
            "/recurringruns",
            json={
                "display_name": unique("periodic"),
                "experiment_id": experiment["experiment_id"],
                "pipeline_spec": corpus_documents("minimal")[0],
                "trigger": {"periodic_schedule": {"interval_second": "3600"}},
                "no_catchup": True,
            },
        )
    )
    return World(
        pipeline_id=pipeline.pipeline_id,
        pipeline_name=name,
        version_id=version_id,
        rest_version_id=rest_version["pipeline_version_id"],
        experiment_id=experiment["experiment_id"],
        grpc_experiment_id=grpc_experiment.experiment_id,
        grpc_run_ids=grpc_run_ids,
        rest_run_ids=rest_run_ids,
        inline_run_id=inline.run_id,
        archived_run_id=grpc_run_ids[0],
        canceled_run_id=rest_run_ids[0],
        grpc_recurring_run_id=recurring.recurring_run_id,
        rest_recurring_run_id=rest_recurring["recurring_run_id"],
        created=created,
    )


# --- comparing -------------------------------------------------------------------------------


def comparable(value: Any) -> Any:
    """proto3 JSON without defaults: None, "", 0, false, {} and [] dropped; timestamps as
    datetimes (the two sides may write different fraction digits); numbers as floats (Struct
    numbers are doubles)."""
    if isinstance(value, dict):
        items = {key: comparable(item) for key, item in value.items()}
        return {
            key: item for key, item in items.items() if item not in (None, "", 0, False, {}, [])
        }
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def grpc_json(message: Message) -> dict[str, Any]:
    as_json: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return as_json


def assert_same(rest: dict[str, Any], message: Message, what: str) -> None:
    """Field by field: the same keys, and equal values under each."""
    left, right = comparable(rest), comparable(grpc_json(message))
    assert set(left) == set(right), (
        f"{what}: REST-only {set(left) - set(right)}, gRPC-only {set(right) - set(left)}"
    )
    for key in left:
        assert left[key] == right[key], f"{what}.{key}: REST {left[key]!r} != gRPC {right[key]!r}"


@dataclass(frozen=True)
class Read:
    """One read through both transports: REST path and params, gRPC call and request."""

    name: str
    rest: Callable[[World], tuple[str, dict[str, Any]]]
    grpc: Callable[[Clients, World], Message]


def _runs_filter(*predicates: dict[str, Any]) -> str:
    return filter_json(*predicates)


READS = [
    Read(
        "get pipeline",
        lambda w: (f"/pipelines/{w.pipeline_id}", {}),
        lambda c, w: c.pipelines.GetPipeline(
            pipeline_pb2.GetPipelineRequest(pipeline_id=w.pipeline_id)
        ),
    ),
    Read(
        "get pipeline by name",
        lambda w: (f"/pipelines/names/{w.pipeline_name}", {}),
        lambda c, w: c.pipelines.GetPipelineByName(
            pipeline_pb2.GetPipelineByNameRequest(name=w.pipeline_name)
        ),
    ),
    Read(
        "list pipelines filtered by name",
        lambda w: (
            "/pipelines",
            {"filter": filter_json(predicate("name", "EQUALS", string_value=w.pipeline_name))},
        ),
        lambda c, w: c.pipelines.ListPipelines(
            pipeline_pb2.ListPipelinesRequest(
                filter=filter_json(predicate("name", "EQUALS", string_value=w.pipeline_name))
            )
        ),
    ),
    Read(
        "get version made over gRPC",
        lambda w: (f"/pipelines/{w.pipeline_id}/versions/{w.version_id}", {}),
        lambda c, w: c.pipelines.GetPipelineVersion(
            pipeline_pb2.GetPipelineVersionRequest(
                pipeline_id=w.pipeline_id, pipeline_version_id=w.version_id
            )
        ),
    ),
    Read(
        "get version made over REST",
        lambda w: (f"/pipelines/{w.pipeline_id}/versions/{w.rest_version_id}", {}),
        lambda c, w: c.pipelines.GetPipelineVersion(
            pipeline_pb2.GetPipelineVersionRequest(
                pipeline_id=w.pipeline_id, pipeline_version_id=w.rest_version_id
            )
        ),
    ),
    Read(
        "list versions newest first",
        lambda w: (f"/pipelines/{w.pipeline_id}/versions", {"sort_by": "created_at desc"}),
        lambda c, w: c.pipelines.ListPipelineVersions(
            pipeline_pb2.ListPipelineVersionsRequest(
                pipeline_id=w.pipeline_id, sort_by="created_at desc"
            )
        ),
    ),
    Read(
        "get experiment made over REST",
        lambda w: (f"/experiments/{w.experiment_id}", {}),
        lambda c, w: c.experiments.GetExperiment(
            experiment_pb2.GetExperimentRequest(experiment_id=w.experiment_id)
        ),
    ),
    Read(
        "list experiments by name, descending",
        lambda w: ("/experiments", {"sort_by": "display_name desc", "page_size": 50}),
        lambda c, w: c.experiments.ListExperiments(
            experiment_pb2.ListExperimentsRequest(sort_by="display_name desc", page_size=50)
        ),
    ),
    Read(
        "get run made over gRPC (archived)",
        lambda w: (f"/runs/{w.archived_run_id}", {}),
        lambda c, w: c.runs.GetRun(run_pb2.GetRunRequest(run_id=w.archived_run_id)),
    ),
    Read(
        "get run made over REST (canceled)",
        lambda w: (f"/runs/{w.canceled_run_id}", {}),
        lambda c, w: c.runs.GetRun(run_pb2.GetRunRequest(run_id=w.canceled_run_id)),
    ),
    Read(
        "get inline-spec run",
        lambda w: (f"/runs/{w.inline_run_id}", {}),
        lambda c, w: c.runs.GetRun(run_pb2.GetRunRequest(run_id=w.inline_run_id)),
    ),
    Read(
        "list runs of an experiment by name",
        lambda w: ("/runs", {"experiment_id": w.experiment_id, "sort_by": "name desc"}),
        lambda c, w: c.runs.ListRuns(
            run_pb2.ListRunsRequest(experiment_id=w.experiment_id, sort_by="name desc")
        ),
    ),
    Read(
        "list runs filtered by state",
        lambda w: (
            "/runs",
            {"filter": _runs_filter(predicate("state", "EQUALS", string_value="CANCELED"))},
        ),
        lambda c, w: c.runs.ListRuns(
            run_pb2.ListRunsRequest(
                filter=_runs_filter(predicate("state", "EQUALS", string_value="CANCELED"))
            )
        ),
    ),
    Read(
        "list archived runs",
        lambda w: (
            "/runs",
            {"filter": _runs_filter(predicate("storage_state", "EQUALS", string_value="ARCHIVED"))},
        ),
        lambda c, w: c.runs.ListRuns(
            run_pb2.ListRunsRequest(
                filter=_runs_filter(predicate("storage_state", "EQUALS", string_value="ARCHIVED"))
            )
        ),
    ),
    Read(
        "list runs whose name contains grpc",
        lambda w: (
            "/runs",
            {
                "experiment_id": w.experiment_id,
                "filter": _runs_filter(predicate("name", "IS_SUBSTRING", string_value="grpc")),
            },
        ),
        lambda c, w: c.runs.ListRuns(
            run_pb2.ListRunsRequest(
                experiment_id=w.experiment_id,
                filter=_runs_filter(predicate("name", "IS_SUBSTRING", string_value="grpc")),
            )
        ),
    ),
    Read(
        "get recurring run made over gRPC",
        lambda w: (f"/recurringruns/{w.grpc_recurring_run_id}", {}),
        lambda c, w: c.recurring_runs.GetRecurringRun(
            recurring_run_pb2.GetRecurringRunRequest(recurring_run_id=w.grpc_recurring_run_id)
        ),
    ),
    Read(
        "get recurring run made over REST",
        lambda w: (f"/recurringruns/{w.rest_recurring_run_id}", {}),
        lambda c, w: c.recurring_runs.GetRecurringRun(
            recurring_run_pb2.GetRecurringRunRequest(recurring_run_id=w.rest_recurring_run_id)
        ),
    ),
    Read(
        "list recurring runs of an experiment",
        lambda w: (
            "/recurringruns",
            {"experiment_id": w.experiment_id, "sort_by": "created_at desc"},
        ),
        lambda c, w: c.recurring_runs.ListRecurringRuns(
            recurring_run_pb2.ListRecurringRunsRequest(
                experiment_id=w.experiment_id, sort_by="created_at desc"
            )
        ),
    ),
    Read(
        "healthz",
        lambda w: ("/healthz", {}),
        lambda c, w: c.healthz.GetHealthz(empty_pb2.Empty()),
    ),
]


@pytest.mark.parametrize("read", READS, ids=[r.name for r in READS])
def test_reads_agree(clients: Clients, world: World, read: Read) -> None:
    path, params = read.rest(world)
    rest = rest_ok(clients.rest.get(path, params=params))
    message = read.grpc(clients, world)
    if read.name == "healthz":
        # REST adds build facts (commit_sha, tag_name) that the proto message has no field for.
        rest = {key: rest[key] for key in ("multi_user", "pipeline_store")}
    assert_same(rest, message, read.name)


def test_reads_see_something(clients: Clients, world: World) -> None:
    """Guards the table above against comparing empty answers: the lists it reads are full."""
    runs = clients.runs.ListRuns(run_pb2.ListRunsRequest(experiment_id=world.experiment_id))
    assert runs.total_size == 2 * RUNS_PER_TRANSPORT
    assert {r.run_id for r in runs.runs} == set(world.grpc_run_ids + world.rest_run_ids)
    canceled = rest_ok(
        clients.rest.get(
            "/runs",
            params={"filter": _runs_filter(predicate("state", "EQUALS", string_value="CANCELED"))},
        )
    )
    assert [r["run_id"] for r in canceled["runs"]] == [world.canceled_run_id]


def test_what_grpc_created_reads_the_same_through_rest(clients: Clients, world: World) -> None:
    # (The world's gRPC experiment has had a run since; a fresh one is compared instead.)
    fresh = clients.experiments.CreateExperiment(
        experiment_pb2.CreateExperimentRequest(
            experiment=experiment_pb2.Experiment(display_name=unique("fresh"))
        )
    )
    assert_same(rest_ok(clients.rest.get(f"/experiments/{fresh.experiment_id}")), fresh, "fresh")
    paths = {
        world.pipeline_id: f"/pipelines/{world.pipeline_id}",
        world.inline_run_id: f"/runs/{world.inline_run_id}",
        world.grpc_run_ids[1]: f"/runs/{world.grpc_run_ids[1]}",
        world.grpc_recurring_run_id: f"/recurringruns/{world.grpc_recurring_run_id}",
    }
    for resource_id, path in paths.items():
        read = rest_ok(clients.rest.get(path))
        # A create answers without the state history (over REST too); reads add it.
        read.pop("state_history", None)
        assert_same(read, world.created[resource_id], path)


# --- paging --------------------------------------------------------------------------------


def test_pages_and_tokens_agree(clients: Clients, world: World) -> None:
    """Walk the experiment's runs 5 at a time through both; every page, total and token is
    the same, and a token one transport issued is honoured by the other."""
    params: dict[str, Any] = {
        "experiment_id": world.experiment_id,
        "page_size": 5,
        "sort_by": "created_at",
    }
    rest_token, grpc_token, seen = "", "", []
    while True:
        rest = rest_ok(clients.rest.get("/runs", params={**params, "page_token": rest_token}))
        message = clients.runs.ListRuns(
            run_pb2.ListRunsRequest(
                experiment_id=world.experiment_id,
                page_size=5,
                sort_by="created_at",
                page_token=grpc_token,
            )
        )
        assert_same(rest, message, f"page after {len(seen)} runs")
        seen += [r.run_id for r in message.runs]
        if not message.next_page_token:
            break
        # Cross over: REST continues from gRPC's token and gRPC from REST's.
        rest_token, grpc_token = message.next_page_token, rest["next_page_token"]
    assert len(seen) == len(set(seen)) == 2 * RUNS_PER_TRANSPORT


# --- errors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One bad request through both: REST status and gRPC code must match, with one message."""

    name: str
    rest: Callable[[httpx.Client, World], httpx.Response]
    grpc: Callable[[Clients, World], Message]
    http_status: int
    code: grpc.StatusCode
    fragment: str
    prepare: Callable[[httpx.Client], object] | None = None


FAILURES = [
    Failure(
        "missing run",
        lambda r, w: r.get("/runs/no-such-run"),
        lambda c, w: c.runs.GetRun(run_pb2.GetRunRequest(run_id="no-such-run")),
        404,
        grpc.StatusCode.NOT_FOUND,
        "no-such-run",
    ),
    Failure(
        "missing pipeline version",
        lambda r, w: r.get(f"/pipelines/{w.pipeline_id}/versions/nope"),
        lambda c, w: c.pipelines.GetPipelineVersion(
            pipeline_pb2.GetPipelineVersionRequest(
                pipeline_id=w.pipeline_id, pipeline_version_id="nope"
            )
        ),
        404,
        grpc.StatusCode.NOT_FOUND,
        "nope",
    ),
    Failure(
        "runs of a missing experiment",
        lambda r, w: r.get("/runs", params={"experiment_id": "nope"}),
        lambda c, w: c.runs.ListRuns(run_pb2.ListRunsRequest(experiment_id="nope")),
        404,
        grpc.StatusCode.NOT_FOUND,
        "nope",
    ),
    Failure(
        "negative page size",
        lambda r, w: r.get("/runs", params={"page_size": -1}),
        lambda c, w: c.runs.ListRuns(run_pb2.ListRunsRequest(page_size=-1)),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    ),
    Failure(
        "unreadable page token",
        lambda r, w: r.get("/experiments", params={"page_token": "garbage"}),
        lambda c, w: c.experiments.ListExperiments(
            experiment_pb2.ListExperimentsRequest(page_token="garbage")
        ),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    ),
    Failure(
        "unknown filter key",
        lambda r, w: r.get(
            "/runs", params={"filter": filter_json(predicate("colour", "EQUALS", string_value="x"))}
        ),
        lambda c, w: c.runs.ListRuns(
            run_pb2.ListRunsRequest(
                filter=filter_json(predicate("colour", "EQUALS", string_value="x"))
            )
        ),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "colour",
    ),
    Failure(
        "bad sort field",
        lambda r, w: r.get("/pipelines", params={"sort_by": "colour"}),
        lambda c, w: c.pipelines.ListPipelines(pipeline_pb2.ListPipelinesRequest(sort_by="colour")),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "colour",
    ),
    Failure(
        "run without a name",
        lambda r, w: r.post("/runs", json={"pipeline_spec": corpus_documents("minimal")[0]}),
        lambda c, w: c.runs.CreateRun(
            run_pb2.CreateRunRequest(
                run=run_pb2.Run(pipeline_spec=struct(corpus_documents("minimal")[0]))
            )
        ),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "display_name",
    ),
    Failure(
        "runtime parameter the spec does not declare",
        lambda r, w: r.post(
            "/runs",
            json={
                "display_name": "x",
                "pipeline_version_reference": {
                    "pipeline_id": w.pipeline_id,
                    "pipeline_version_id": w.version_id,
                },
                "runtime_config": {"parameters": {"colour": "red"}},
            },
        ),
        lambda c, w: c.runs.CreateRun(
            run_pb2.CreateRunRequest(
                run=run_pb2.Run(
                    display_name="x",
                    pipeline_version_reference=run_pb2.PipelineVersionReference(
                        pipeline_id=w.pipeline_id, pipeline_version_id=w.version_id
                    ),
                    runtime_config=runtime_config_pb2.RuntimeConfig(
                        parameters={"colour": struct_pb2.Value(string_value="red")}
                    ),
                )
            )
        ),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "colour",
    ),
    Failure(
        "recurring run without a trigger",
        lambda r, w: r.post(
            "/recurringruns",
            json={"display_name": "x", "pipeline_spec": corpus_documents("minimal")[0]},
        ),
        lambda c, w: c.recurring_runs.CreateRecurringRun(
            recurring_run_pb2.CreateRecurringRunRequest(
                recurring_run=recurring_run_pb2.RecurringRun(
                    display_name="x", pipeline_spec=struct(corpus_documents("minimal")[0])
                )
            )
        ),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "trigger",
    ),
    Failure(
        "duplicate experiment",
        lambda r, w: r.post("/experiments", json={"display_name": "duplicate-me"}),
        lambda c, w: c.experiments.CreateExperiment(
            experiment_pb2.CreateExperimentRequest(
                experiment=experiment_pb2.Experiment(display_name="duplicate-me")
            )
        ),
        409,
        grpc.StatusCode.ALREADY_EXISTS,
        "duplicate-me",
        prepare=lambda r: rest_ok(r.post("/experiments", json={"display_name": "duplicate-me"})),
    ),
    Failure(
        "duplicate pipeline",
        lambda r, w: r.post("/pipelines", json={"name": w.pipeline_name}),
        lambda c, w: c.pipelines.CreatePipeline(
            pipeline_pb2.CreatePipelineRequest(pipeline=pipeline_pb2.Pipeline(name=w.pipeline_name))
        ),
        409,
        grpc.StatusCode.ALREADY_EXISTS,
        "already exists",
    ),
    Failure(
        "delete a pipeline that has versions",
        lambda r, w: r.delete(f"/pipelines/{w.pipeline_id}"),
        lambda c, w: c.pipelines.DeletePipeline(
            pipeline_pb2.DeletePipelineRequest(pipeline_id=w.pipeline_id)
        ),
        400,
        grpc.StatusCode.FAILED_PRECONDITION,
        "cascade",
    ),
]


def grpc_failure(call: Callable[[], Message]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error: grpc.RpcError = caught.value
    return error


@pytest.mark.parametrize("failure", FAILURES, ids=[f.name for f in FAILURES])
def test_errors_agree(clients: Clients, world: World, failure: Failure) -> None:
    if failure.prepare is not None:
        failure.prepare(clients.rest)
    response = failure.rest(clients.rest, world)
    assert response.status_code == failure.http_status, response.text
    body = response.json()
    error = grpc_failure(lambda: failure.grpc(clients, world))
    assert error.code() == failure.code
    assert body["code"] == failure.code.value[0]
    assert error.details() == body["message"]
    assert failure.fragment in body["message"]
    # The trailer carries the same status as a google.rpc.Status, as KFP's server sends it.
    trailer = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(trailer)
    assert (status.code, status.message) == (body["code"], body["message"])
    assert list(status.details) == body["details"] == []


def test_report_service_is_defined_but_unimplemented(server: RunningServer) -> None:
    from api_server.grpc_api.generated import report_pb2, report_pb2_grpc

    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = report_pb2_grpc.ReportServiceStub(channel)
        error = grpc_failure(
            lambda: stub.ReportWorkflow(report_pb2.ReportWorkflowRequest(workflow="{}"))
        )
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "persistence agent" in (error.details() or "")


def test_grpc_client_creates_and_lists_with_filters_and_paging(
    clients: Clients, world: World
) -> None:
    """The whole round trip a gRPC user makes, checked on what they get back."""
    version = clients.pipelines.GetPipelineVersion(
        pipeline_pb2.GetPipelineVersionRequest(
            pipeline_id=world.pipeline_id, pipeline_version_id=world.version_id
        )
    )
    spec = json_format.MessageToDict(version.pipeline_spec)
    assert (
        spec["pipelineInfo"]["name"] == corpus_documents("scalar_params")[0]["pipelineInfo"]["name"]
    )

    run = clients.runs.GetRun(run_pb2.GetRunRequest(run_id=world.grpc_run_ids[3]))
    assert run.display_name == "grpc-3"
    assert run.state == run_pb2.PENDING
    assert run.runtime_config.parameters["count"].number_value == 3
    assert run.pipeline_version_reference.pipeline_version_id == world.version_id
    assert [s.state for s in run.state_history] == [run_pb2.PENDING]

    first = clients.runs.ListRuns(
        run_pb2.ListRunsRequest(
            experiment_id=world.experiment_id,
            filter=filter_json(predicate("name", "IS_SUBSTRING", string_value="grpc-")),
            sort_by="name desc",
            page_size=4,
        )
    )
    second = clients.runs.ListRuns(
        run_pb2.ListRunsRequest(
            experiment_id=world.experiment_id,
            filter=filter_json(predicate("name", "IS_SUBSTRING", string_value="grpc-")),
            sort_by="name desc",
            page_size=4,
            page_token=first.next_page_token,
        )
    )
    names = [r.display_name for r in [*first.runs, *second.runs]]
    assert names == [f"grpc-{i}" for i in reversed(range(RUNS_PER_TRANSPORT))]
    assert first.total_size == second.total_size == RUNS_PER_TRANSPORT
    assert not second.next_page_token

    recurring = clients.recurring_runs.ListRecurringRuns(
        recurring_run_pb2.ListRecurringRunsRequest(experiment_id=world.experiment_id, page_size=1)
    )
    assert recurring.total_size == 2 and len(recurring.recurringRuns) == 1
    cron = clients.recurring_runs.GetRecurringRun(
        recurring_run_pb2.GetRecurringRunRequest(recurring_run_id=world.grpc_recurring_run_id)
    )
    assert cron.trigger.cron_schedule.cron == "0 0 3 * * *"
    assert cron.status == recurring_run_pb2.RecurringRun.DISABLED
    assert cron.max_concurrency == 2

    experiment = clients.experiments.GetExperiment(
        experiment_pb2.GetExperimentRequest(experiment_id=world.experiment_id)
    )
    assert experiment.last_run_created_at.ToDatetime() >= run.created_at.ToDatetime()


def test_reflection_and_health_cover_every_service(server: RunningServer) -> None:
    """grpcurl-style discovery: reflection lists the v2beta1 services and resolves their
    messages; grpc.health.v1 reports each one SERVING."""
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    package = "kubeflow.pipelines.backend.api.v2beta1"
    expected = {
        f"{package}.{name}"
        for name in (
            "PipelineService",
            "ExperimentService",
            "RunService",
            "RecurringRunService",
            "HealthzService",
            "ReportService",
        )
    }
    with grpc.insecure_channel(server.grpc_target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert expected <= set(database.get_services())
        pool = DescriptorPool(database)
        run = pool.FindMessageTypeByName(f"{package}.Run")
        assert run.fields_by_name["pipeline_version_reference"].number == 18
        health = health_pb2_grpc.HealthStub(channel)
        for service in sorted(expected):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
