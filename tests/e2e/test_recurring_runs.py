"""Recurring runs through kfp.Client: cron and periodic triggers, listing, enable/disable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kfp_server_api import ApiException

from tests.e2e.support import (
    INVALID_ARGUMENT,
    api_error,
    assert_error,
    corpus,
    corpus_documents,
    filter_json,
    predicate,
    unique,
)

pytestmark = pytest.mark.e2e

WEEKDAYS_AT_NINE = "0 0 9 ? * 2-6"


@pytest.fixture(scope="module")
def experiment_id(kfp_client) -> str:
    return kfp_client.create_experiment(unique("recurring exp")).experiment_id


@pytest.fixture(scope="module")
def version(kfp_client) -> tuple[str, str]:
    pipeline = kfp_client.upload_pipeline(
        str(corpus("scalar_params")), pipeline_name=unique("recurring scalar")
    )
    versions = kfp_client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    return pipeline.pipeline_id, versions[0].pipeline_version_id


def _periodic(kfp_client, experiment_id: str, name: str | None = None, **kwargs):
    return kfp_client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=name or unique("periodic"),
        interval_second=kwargs.pop("interval_second", 600),
        pipeline_package_path=str(corpus("minimal")),
        **kwargs,
    )


def test_cron_schedule_from_a_pipeline_version(kfp_client, experiment_id, version) -> None:
    pipeline_id, version_id = version
    name = unique("weekday cron")

    created = kfp_client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=name,
        description="nine o'clock",
        cron_expression=WEEKDAYS_AT_NINE,
        start_time="2030-01-01T00:00:00Z",
        end_time="2031-01-01T00:00:00Z",
        max_concurrency=2,
        no_catchup=True,
        params={"count": 9, "label": "cron"},
        pipeline_id=pipeline_id,
        version_id=version_id,
    )

    for recurring in (created, kfp_client.get_recurring_run(created.recurring_run_id)):
        assert recurring.display_name == name
        assert recurring.description == "nine o'clock"
        assert recurring.experiment_id == experiment_id
        assert recurring.status == "ENABLED"
        assert recurring.mode == "ENABLE"
        assert recurring.trigger.cron_schedule.cron == WEEKDAYS_AT_NINE
        assert recurring.trigger.periodic_schedule is None
        assert recurring.trigger.cron_schedule.start_time == datetime(2030, 1, 1, tzinfo=UTC)
        assert recurring.trigger.cron_schedule.end_time == datetime(2031, 1, 1, tzinfo=UTC)
        assert int(recurring.max_concurrency) == 2
        assert recurring.no_catchup is True
        assert recurring.runtime_config.parameters == {"count": 9, "label": "cron"}
        assert recurring.pipeline_version_reference.pipeline_id == pipeline_id
        assert recurring.pipeline_version_reference.pipeline_version_id == version_id
        assert isinstance(recurring.created_at, datetime)
        assert isinstance(recurring.updated_at, datetime)


def test_periodic_schedule_from_a_package(kfp_client, experiment_id) -> None:
    created = _periodic(kfp_client, experiment_id, interval_second=3600, enabled=False)

    fetched = kfp_client.get_recurring_run(created.recurring_run_id)
    assert fetched.status == "DISABLED"
    assert fetched.mode == "DISABLE"
    assert int(fetched.trigger.periodic_schedule.interval_second) == 3600
    assert fetched.trigger.cron_schedule is None
    assert int(fetched.max_concurrency) == 1
    assert fetched.pipeline_spec == corpus_documents("minimal")[0]
    assert fetched.pipeline_version_reference is None


def test_platform_spec_and_offset_start_time(kfp_client, experiment_id) -> None:
    created = kfp_client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=unique("workspace schedule"),
        interval_second=86400,
        start_time="2030-01-01T09:00:00+02:00",
        pipeline_package_path=str(corpus("workspace_config")),
        params={"text": "nightly"},
    )

    fetched = kfp_client.get_recurring_run(created.recurring_run_id)
    documents = corpus_documents("workspace_config")
    assert fetched.pipeline_spec == {"pipeline_spec": documents[0], "platform_spec": documents[1]}
    assert fetched.trigger.periodic_schedule.start_time == datetime(2030, 1, 1, 7, tzinfo=UTC)
    assert fetched.runtime_config.parameters == {"text": "nightly"}


def test_list_recurring_runs_is_read_by_the_sdk_and_filters_by_experiment(kfp_client) -> None:
    mine = kfp_client.create_experiment(unique("recurring list mine")).experiment_id
    other = kfp_client.create_experiment(unique("recurring list other")).experiment_id
    ids = {_periodic(kfp_client, mine).recurring_run_id for _ in range(3)}
    foreign = _periodic(kfp_client, other).recurring_run_id

    listed = kfp_client.list_recurring_runs(experiment_id=mine, page_size=2)
    rest = kfp_client.list_recurring_runs(
        experiment_id=mine, page_size=2, page_token=listed.next_page_token
    )

    # The SDK reads the camelCase "recurringRuns" key; a wrong key leaves this None.
    assert isinstance(listed.recurring_runs, list) and listed.recurring_runs
    assert listed.total_size == rest.total_size == 3
    assert {r.recurring_run_id for r in listed.recurring_runs + rest.recurring_runs} == ids
    assert not rest.next_page_token
    everything = kfp_client.list_recurring_runs(page_size=200).recurring_runs
    assert ids | {foreign} <= {r.recurring_run_id for r in everything}
    other_list = kfp_client.list_recurring_runs(experiment_id=other).recurring_runs
    assert [r.recurring_run_id for r in other_list] == [foreign]
    by_name = kfp_client.list_recurring_runs(
        experiment_id=mine,
        filter=filter_json(predicate("display_name", 9, stringValue="periodic")),
    )
    assert by_name.total_size == 3
    empty = kfp_client.create_experiment(unique("recurring list empty")).experiment_id
    nothing = kfp_client.list_recurring_runs(experiment_id=empty)
    assert not nothing.recurring_runs
    assert nothing.total_size == 0


def test_enable_disable_and_delete(kfp_client, experiment_id) -> None:
    created = _periodic(kfp_client, experiment_id)
    rid = created.recurring_run_id

    kfp_client.disable_recurring_run(rid)
    disabled = kfp_client.get_recurring_run(rid)
    assert (disabled.status, disabled.mode) == ("DISABLED", "DISABLE")
    assert disabled.updated_at >= created.updated_at
    kfp_client.disable_recurring_run(rid)  # idempotent
    assert kfp_client.get_recurring_run(rid).status == "DISABLED"

    kfp_client.enable_recurring_run(rid)
    assert kfp_client.get_recurring_run(rid).status == "ENABLED"

    kfp_client.delete_recurring_run(rid)

    with pytest.raises(ApiException) as caught:
        kfp_client.get_recurring_run(rid)
    assert caught.value.status == 404
    listed = kfp_client.list_recurring_runs(experiment_id=experiment_id, page_size=200)
    assert rid not in {r.recurring_run_id for r in listed.recurring_runs or []}
    for call in (kfp_client.enable_recurring_run, kfp_client.delete_recurring_run):
        with pytest.raises(ApiException) as caught:
            call(rid)
        assert caught.value.status == 404


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cron_expression": "not a cron"}, "cron"),
        ({"cron_expression": "0 0 25 * * *"}, "cron"),
        ({"cron_expression": "* * *"}, "cron"),
        ({"interval_second": 60, "max_concurrency": 11}, "max_concurrency"),
        ({"interval_second": 60, "max_concurrency": -1}, "max_concurrency"),
        ({"interval_second": -5}, "interval_second"),
        (
            {
                "interval_second": 60,
                "start_time": "2030-01-02T00:00:00Z",
                "end_time": "2030-01-01T00:00:00Z",
            },
            "end_time",
        ),
        ({"interval_second": 60, "start_time": "tomorrow"}, "start_time"),
        ({"interval_second": 60, "params": {"nope": 1}}, "'nope'"),
    ],
    ids=[
        "cron-words",
        "cron-hour-25",
        "cron-3-fields",
        "concurrency-11",
        "concurrency-negative",
        "negative-interval",
        "end-before-start",
        "bad-start-time",
        "unknown-param",
    ],
)
def test_invalid_recurring_runs_are_400(kfp_client, experiment_id, kwargs, fragment) -> None:
    name = unique("invalid")
    with pytest.raises(ApiException) as caught:
        kfp_client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=name,
            pipeline_package_path=str(corpus("minimal")),
            **kwargs,
        )
    assert caught.value.status == 400
    error = api_error(caught.value)
    assert error["code"] == INVALID_ARGUMENT
    assert fragment in error["message"], error
    named = kfp_client.list_recurring_runs(
        filter=filter_json(predicate("display_name", "EQUALS", string_value=name))
    )
    assert not named.recurring_runs


def test_both_cron_and_periodic_or_neither_is_400(api, experiment_id) -> None:
    body = {
        "display_name": unique("both"),
        "experiment_id": experiment_id,
        "pipeline_spec": corpus_documents("minimal")[0],
        "trigger": {
            "cron_schedule": {"cron": WEEKDAYS_AT_NINE},
            "periodic_schedule": {"interval_second": "60"},
        },
    }
    assert_error(api.post("/recurringruns", json=body), 400, INVALID_ARGUMENT, "not both")
    body["trigger"] = {}
    assert_error(api.post("/recurringruns", json=body), 400, INVALID_ARGUMENT, "trigger")
    del body["trigger"]
    assert_error(api.post("/recurringruns", json=body), 400, INVALID_ARGUMENT, "trigger")


def test_duplicate_recurring_run_name_is_409(kfp_client, experiment_id) -> None:
    name = unique("dup schedule")
    _periodic(kfp_client, experiment_id, name)
    with pytest.raises(ApiException) as caught:
        _periodic(kfp_client, experiment_id, name)
    assert caught.value.status == 409


def test_raw_wire_shape_of_a_recurring_run(api, experiment_id) -> None:
    body = {
        "display_name": unique("raw"),
        "experiment_id": experiment_id,
        "pipeline_spec": corpus_documents("minimal")[0],
        "max_concurrency": "3",
        "trigger": {"periodicSchedule": {"intervalSecond": 120}},
        "mode": "ENABLE",
    }
    created = api.post("/recurringruns", json=body)
    assert created.status_code == 200, created.text
    payload = created.json()
    # int64 fields are strings in protojson, as KFP writes them.
    assert payload["max_concurrency"] == "3"
    assert payload["trigger"] == {"periodic_schedule": {"interval_second": "120"}}
    listed = api.get("/recurringruns", params={"experiment_id": experiment_id, "page_size": 200})
    assert "recurringRuns" in listed.json()
    assert "recurring_runs" not in listed.json()
