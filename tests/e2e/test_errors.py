"""The wire contract, raw over HTTP: error bodies and codes, limits, prefixes, metrics, verbs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import RunningServer, start_server, stop_server
from tests.e2e.support import (
    ALREADY_EXISTS,
    API,
    BROKEN,
    INVALID_ARGUMENT,
    NOT_FOUND,
    assert_error,
    check_timestamps,
    corpus,
    corpus_documents,
    unique,
)

pytestmark = pytest.mark.e2e

MISSING = "00000000-0000-0000-0000-00000000dead"
BROKEN_EXPECTED: dict[str, str] = json.loads((BROKEN / "expected.json").read_text())


def _upload(api: httpx.Client, path: Path, **params: str) -> httpx.Response:
    with path.open("rb") as fh:
        return api.post(
            "/pipelines/upload",
            params=params,
            files={"uploadfile": (path.name, fh, "application/octet-stream")},
        )


@pytest.fixture(scope="module")
def resources(api: httpx.Client) -> dict[str, str]:
    """One of everything, created over raw HTTP."""
    experiment = api.post("/experiments", json={"display_name": unique("errors exp")}).json()
    pipeline = _upload(api, corpus("minimal"), name=unique("errors pipe")).json()
    versions = api.get(f"/pipelines/{pipeline['pipeline_id']}/versions").json()
    spec = corpus_documents("minimal")[0]
    run = api.post(
        "/runs",
        json={
            "display_name": "errors run",
            "experiment_id": experiment["experiment_id"],
            "pipeline_spec": spec,
        },
    ).json()
    recurring = api.post(
        "/recurringruns",
        json={
            "display_name": unique("errors schedule"),
            "experiment_id": experiment["experiment_id"],
            "pipeline_spec": spec,
            "trigger": {"cron_schedule": {"cron": "0 0 9 ? * 2-6"}},
        },
    ).json()
    return {
        "experiment_id": experiment["experiment_id"],
        "pipeline_id": pipeline["pipeline_id"],
        "pipeline_version_id": versions["pipeline_versions"][0]["pipeline_version_id"],
        "run_id": run["run_id"],
        "recurring_run_id": recurring["recurring_run_id"],
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/experiments/{MISSING}"),
        ("DELETE", f"/experiments/{MISSING}"),
        ("POST", f"/experiments/{MISSING}:archive"),
        ("POST", f"/experiments/{MISSING}:unarchive"),
        ("GET", f"/pipelines/{MISSING}"),
        ("DELETE", f"/pipelines/{MISSING}"),
        ("PATCH", f"/pipelines/{MISSING}"),
        ("GET", f"/pipelines/{MISSING}/versions"),
        ("GET", f"/pipelines/{MISSING}/versions/{MISSING}"),
        ("DELETE", f"/pipelines/{MISSING}/versions/{MISSING}"),
        ("GET", f"/pipelines/names/{MISSING}"),
        ("GET", f"/runs/{MISSING}"),
        ("DELETE", f"/runs/{MISSING}"),
        ("POST", f"/runs/{MISSING}:archive"),
        ("POST", f"/runs/{MISSING}:unarchive"),
        ("POST", f"/runs/{MISSING}:terminate"),
        ("POST", f"/runs/{MISSING}:retry"),
        ("GET", f"/recurringruns/{MISSING}"),
        ("DELETE", f"/recurringruns/{MISSING}"),
        ("POST", f"/recurringruns/{MISSING}:enable"),
        ("POST", f"/recurringruns/{MISSING}:disable"),
    ],
)
def test_unknown_ids_are_404_with_the_kfp_error_body(api, method, path) -> None:
    kwargs = {"json": {"display_name": "x"}} if method == "PATCH" else {}
    assert_error(api.request(method, path, **kwargs), 404, NOT_FOUND, MISSING)


def test_version_of_another_pipeline_is_404(api, resources) -> None:
    other = _upload(api, corpus("minimal"), name=unique("errors other")).json()
    path = f"/pipelines/{other['pipeline_id']}/versions/{resources['pipeline_version_id']}"
    assert_error(api.get(path), 404, NOT_FOUND)


def test_list_scoped_to_unknown_experiment_is_404(api) -> None:
    assert_error(api.get("/runs", params={"experiment_id": MISSING}), 404, NOT_FOUND, MISSING)
    assert_error(
        api.get("/recurringruns", params={"experiment_id": MISSING}), 404, NOT_FOUND, MISSING
    )


def test_duplicate_experiment_name_is_409(api) -> None:
    name = unique("errors twice")
    assert api.post("/experiments", json={"display_name": name}).status_code == 200
    assert_error(api.post("/experiments", json={"display_name": name}), 409, ALREADY_EXISTS, name)


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/experiments", b"{not json"),
        ("/experiments", b'["a list"]'),
        ("/experiments", b'{"display_name": 5}'),
        ("/experiments", b'{"display_name": "   "}'),
        ("/experiments", b""),
        ("/runs", b"{"),
        ("/runs", b'{"display_name": "r", "pipeline_spec": "a string"}'),
        ("/recurringruns", b'{"display_name": 1'),
        ("/pipelines", b"\xff\xfe"),
        ("/pipelines/create", b'{"pipeline": {}}'),
    ],
    ids=[
        "broken-json",
        "json-list",
        "name-not-string",
        "blank-name",
        "empty-body",
        "run-broken-json",
        "spec-not-object",
        "recurring-broken-json",
        "not-utf8",
        "missing-version",
    ],
)
def test_bad_request_bodies_are_400(api, path, content) -> None:
    response = api.post(path, content=content, headers={"Content-Type": "application/json"})
    assert_error(response, 400, INVALID_ARGUMENT)


@pytest.mark.parametrize("name", sorted(BROKEN_EXPECTED))
def test_broken_pipeline_upload_is_400_with_the_reason(api, name) -> None:
    pipeline_name = unique("broken")
    response = _upload(api, BROKEN / name, name=pipeline_name)

    assert_error(response, 400, INVALID_ARGUMENT, BROKEN_EXPECTED[name])
    # Nothing half-written.
    assert api.get(f"/pipelines/names/{pipeline_name}").status_code == 404


def test_upload_without_a_file_is_400(api) -> None:
    assert_error(
        api.post("/pipelines/upload", params={"name": unique("nofile")}, files={"other": b"x"}),
        400,
        INVALID_ARGUMENT,
        "uploadfile",
    )
    assert_error(
        api.post("/pipelines/upload", content=b"plain", headers={"Content-Type": "text/plain"}),
        400,
        INVALID_ARGUMENT,
        "uploadfile",
    )
    assert_error(
        api.post(
            "/pipelines/upload_version",
            files={"uploadfile": ("v.yaml", corpus("minimal").read_bytes())},
        ),
        400,
        INVALID_ARGUMENT,
        "pipelineid",
    )


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    process, running = start_server(
        tmp_path_factory.mktemp("small") / "data",
        extra_env={"HEADRACE_MAX_UPLOAD_BYTES": "2000", "HEADRACE_RUN_ENGINE": "none"},
    )
    try:
        yield running
    finally:
        stop_server(process)


def test_oversized_upload_is_413(small_server) -> None:
    big = corpus("scalar_params")
    assert big.stat().st_size > 2000
    small = corpus("minimal")
    assert small.stat().st_size <= 2000
    with httpx.Client(base_url=small_server.url + API, timeout=30) as client:
        too_big = _upload(client, big, name="too big")
        assert_error(too_big, 413, INVALID_ARGUMENT, "2000")
        # Far past the limit the server refuses from the declared length, before parsing.
        huge = client.post(
            "/pipelines/upload",
            params={"name": "huge"},
            files={"uploadfile": ("huge.yaml", b"#" * 200_000)},
        )
        assert_error(huge, 413, INVALID_ARGUMENT)
        # A package under the limit is fine on the same server.
        ok = _upload(client, small, name="small enough")
        assert ok.status_code == 200, ok.text
        assert client.get(f"/pipelines/names/{'too big'}").status_code == 404
    assert "Traceback" not in small_server.log()


def test_unknown_route_is_404_json(api, server) -> None:
    assert_error(api.get("/no/such/thing"), 404, NOT_FOUND, "/no/such/thing")
    assert_error(httpx.get(f"{server.url}/apis/v1beta1/runs"), 404, NOT_FOUND)
    response = api.put("/experiments")
    assert response.status_code == 405
    assert response.json()["code"] == 12


def test_pipeline_prefix_is_accepted(server, resources) -> None:
    healthz = httpx.get(f"{server.url}/pipeline/apis/v2beta1/healthz")
    assert healthz.status_code == 200
    assert healthz.json()["multi_user"] is False
    run = httpx.get(f"{server.url}/pipeline/apis/v2beta1/runs/{resources['run_id']}")
    assert run.status_code == 200
    assert run.json()["run_id"] == resources["run_id"]


def test_kfp_client_with_a_pipeline_prefixed_host(server, kfp_client) -> None:
    import kfp

    prefixed = kfp.Client(host=f"{server.url}/pipeline")
    experiment = prefixed.create_experiment(unique("prefixed"))
    assert kfp_client.get_experiment(experiment_id=experiment.experiment_id).display_name == (
        experiment.display_name
    )


def test_healthz(api) -> None:
    body = api.get("/healthz").json()
    assert body["multi_user"] is False
    assert body["pipeline_store"] == "database"


def test_metrics_are_prometheus_text(api, server) -> None:
    api.get("/healthz")
    api.get(f"/runs/{MISSING}")
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE headrace_http_requests_total counter" in text
    samples = [
        line for line in text.splitlines() if line.startswith("headrace_http_requests_total{")
    ]
    assert any('/healthz"' in line and 'status="200"' in line for line in samples), samples
    # Labelled by route template, not by the id in the path.
    assert any('/runs/{run_id}"' in line and 'status="404"' in line for line in samples)
    assert not any(MISSING in line for line in samples)


def _verb(api: httpx.Client, path: str) -> httpx.Response:
    """A custom-verb POST exactly as kfp_server_api sends it: JSON type, no body."""
    request = api.build_request(
        "POST", path, content=b"", headers={"Content-Type": "application/json"}
    )
    assert request.headers["content-length"] == "0"
    return api.send(request)


def test_custom_verbs_with_an_empty_body_return_empty_json(api, resources) -> None:
    run = resources["run_id"]
    experiment = resources["experiment_id"]
    recurring = resources["recurring_run_id"]
    for path in (
        f"/runs/{run}:archive",
        f"/runs/{run}:unarchive",
        f"/runs/{run}:terminate",
        f"/runs/{run}:retry",
        f"/recurringruns/{recurring}:disable",
        f"/recurringruns/{recurring}:enable",
        f"/experiments/{experiment}:archive",
        f"/experiments/{experiment}:unarchive",
    ):
        response = _verb(api, path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {}, path
    assert api.get(f"/runs/{run}").json()["state"] == "PENDING"
    # experiment_id on a per-run verb is accepted (KFP's generated client may send it).
    assert _verb(api, f"/runs/{run}:archive?experiment_id={experiment}").json() == {}


def test_every_response_carries_rfc3339_timestamps(api, resources) -> None:
    # The `api` fixture checks every JSON answer; here the reads are enumerated so that
    # each resource kind and list is covered, and the count proves timestamps were seen.
    experiment = resources["experiment_id"]
    pipeline = resources["pipeline_id"]
    _verb(api, f"/runs/{resources['run_id']}:terminate")
    responses = [
        api.get(f"/experiments/{experiment}"),
        api.get("/experiments"),
        api.get(f"/pipelines/{pipeline}"),
        api.get("/pipelines"),
        api.get(f"/pipelines/{pipeline}/versions"),
        api.get(f"/pipelines/{pipeline}/versions/{resources['pipeline_version_id']}"),
        api.get(f"/runs/{resources['run_id']}"),
        api.get("/runs", params={"experiment_id": experiment}),
        api.get(f"/recurringruns/{resources['recurring_run_id']}"),
        api.get("/recurringruns", params={"experiment_id": experiment}),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert check_timestamps(response.json()) >= 1, response.url
    run = responses[6].json()
    for key in ("created_at", "scheduled_at", "finished_at"):
        assert run[key], key
    assert [h["state"] for h in run["state_history"]][-1] == "CANCELED"
    for entry in run["state_history"]:
        assert entry["update_time"]
    # Never-set timestamps are absent, not "".
    experiment_body = api.post("/experiments", json={"display_name": unique("no runs")}).json()
    assert "last_run_created_at" not in experiment_body or experiment_body["last_run_created_at"]
    pending = api.post(
        "/runs",
        json={
            "display_name": "no finish yet",
            "experiment_id": experiment,
            "pipeline_spec": corpus_documents("minimal")[0],
        },
    ).json()
    assert "finished_at" not in pending


def test_errors_never_leak_internals(api) -> None:
    response = api.get("/runs", params={"filter": json.dumps({"predicates": [{"key": "x'--"}]})})
    message = assert_error(response, 400, INVALID_ARGUMENT)
    for word in ("SELECT", "sqlalchemy", "Traceback"):
        assert word not in message
