"""Experiments through kfp.Client: get-or-create, lookups, listing, archive and delete cascades."""

from __future__ import annotations

from datetime import datetime

import pytest
from kfp_server_api import ApiException

from tests.e2e.support import (
    FAILED_PRECONDITION,
    api_error,
    corpus,
    filter_json,
    predicate,
    unique,
)

pytestmark = pytest.mark.e2e


MINIMAL = str(corpus("minimal"))


def _runs_in(kfp_client, experiment_id: str) -> dict[str, str]:
    """run id -> storage_state, for every run of one experiment."""
    listed = kfp_client.list_runs(experiment_id=experiment_id, page_size=100)
    return {r.run_id: r.storage_state for r in listed.runs or []}


def _new_run(kfp_client, experiment_id: str, name: str) -> str:
    return kfp_client.run_pipeline(
        experiment_id=experiment_id, job_name=name, pipeline_package_path=MINIMAL
    ).run_id


def _new_recurring_run(kfp_client, experiment_id: str, name: str) -> str:
    return kfp_client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=name,
        interval_second=3600,
        pipeline_package_path=MINIMAL,
    ).recurring_run_id


def test_create_experiment_is_get_or_create_by_name(kfp_client) -> None:
    name = unique("exp get-or-create")
    first = kfp_client.create_experiment(name, description="first description")
    again = kfp_client.create_experiment(name, description="ignored: it exists")

    assert again.experiment_id == first.experiment_id
    assert first.display_name == name
    assert first.description == "first description"
    assert first.storage_state == "AVAILABLE"
    assert isinstance(first.created_at, datetime)
    listed = kfp_client.list_experiments(
        filter=filter_json(predicate("display_name", "EQUALS", stringValue=name))
    )
    assert [e.experiment_id for e in listed.experiments] == [first.experiment_id]
    assert listed.total_size == 1


@pytest.mark.parametrize(
    "template",
    [
        " padded {} ",
        "100% sure?#{}&y=1",
        "ünïcødé ✓ {}",
        "a+b {}",
        "slash/{}/x",
    ],
    ids=["padded", "url-specials", "unicode", "plus", "slashes"],
)
def test_get_or_create_keeps_the_name_exactly(kfp_client, template) -> None:
    name = template.format(unique("n"))
    first = kfp_client.create_experiment(name)
    again = kfp_client.create_experiment(name)

    assert again.experiment_id == first.experiment_id
    assert first.display_name == name
    assert kfp_client.get_experiment(experiment_name=name).experiment_id == first.experiment_id


def test_get_experiment_by_id_and_by_name(kfp_client) -> None:
    name = unique("exp lookup / with slash")
    created = kfp_client.create_experiment(name, description="d")

    by_id = kfp_client.get_experiment(experiment_id=created.experiment_id)
    by_name = kfp_client.get_experiment(experiment_name=name)

    assert by_id.experiment_id == by_name.experiment_id == created.experiment_id
    assert by_id.display_name == by_name.display_name == name
    assert by_id.description == "d"
    with pytest.raises(ValueError, match="No experiment is found with name"):
        kfp_client.get_experiment(experiment_name=unique("no such experiment"))
    with pytest.raises(ApiException) as caught:
        kfp_client.get_experiment(experiment_id="00000000-0000-0000-0000-000000000000")
    assert caught.value.status == 404


def test_list_experiments_pages_and_sorts(kfp_client) -> None:
    prefix = unique("exp-list")
    names = [f"{prefix} {letter}" for letter in "dbeac"]
    ids = {kfp_client.create_experiment(n).experiment_id for n in names}
    substring = filter_json(predicate("display_name", "IS_SUBSTRING", stringValue=prefix))

    first = kfp_client.list_experiments(page_size=3, sort_by="display_name", filter=substring)
    second = kfp_client.list_experiments(
        page_size=3, sort_by="display_name", filter=substring, page_token=first.next_page_token
    )

    assert first.total_size == second.total_size == 5
    listed = [e.display_name for e in first.experiments + second.experiments]
    assert listed == sorted(names)
    assert {e.experiment_id for e in first.experiments + second.experiments} == ids
    assert not second.next_page_token


def test_archive_and_unarchive_cascade_to_runs_and_recurring_runs(kfp_client) -> None:
    experiment = kfp_client.create_experiment(unique("exp archive"))
    eid = experiment.experiment_id
    runs = [_new_run(kfp_client, eid, f"archive run {i}") for i in range(3)]
    recurring = _new_recurring_run(kfp_client, eid, unique("archive schedule"))
    assert kfp_client.get_recurring_run(recurring).status == "ENABLED"
    # A run in another experiment is not touched by the cascade.
    bystander_exp = kfp_client.create_experiment(unique("exp bystander"))
    bystander = _new_run(kfp_client, bystander_exp.experiment_id, "bystander")

    kfp_client.archive_experiment(eid)

    assert kfp_client.get_experiment(experiment_id=eid).storage_state == "ARCHIVED"
    assert _runs_in(kfp_client, eid) == dict.fromkeys(runs, "ARCHIVED")
    assert kfp_client.get_run(runs[0]).storage_state == "ARCHIVED"
    assert kfp_client.get_recurring_run(recurring).status == "DISABLED"
    assert kfp_client.get_run(bystander).storage_state == "AVAILABLE"

    # An archived experiment takes no new runs and its schedules cannot be enabled.
    with pytest.raises(ApiException) as caught:
        _new_run(kfp_client, eid, "too late")
    assert caught.value.status == 400
    assert api_error(caught.value)["code"] == FAILED_PRECONDITION
    with pytest.raises(ApiException) as caught:
        kfp_client.enable_recurring_run(recurring)
    assert caught.value.status == 400
    # Nor can one of its runs be unarchived on its own.
    with pytest.raises(ApiException) as caught:
        kfp_client.unarchive_run(runs[0])
    assert caught.value.status == 400

    kfp_client.unarchive_experiment(eid)

    assert kfp_client.get_experiment(experiment_id=eid).storage_state == "AVAILABLE"
    assert _runs_in(kfp_client, eid) == dict.fromkeys(runs, "AVAILABLE")
    # A schedule never restarts by itself; enabling it is explicit and now allowed.
    assert kfp_client.get_recurring_run(recurring).status == "DISABLED"
    kfp_client.enable_recurring_run(recurring)
    assert kfp_client.get_recurring_run(recurring).status == "ENABLED"
    assert _new_run(kfp_client, eid, "after unarchive") in _runs_in(kfp_client, eid)


def test_archived_experiments_can_be_filtered(kfp_client) -> None:
    prefix = unique("exp-state")
    kept = kfp_client.create_experiment(f"{prefix} kept").experiment_id
    archived = kfp_client.create_experiment(f"{prefix} archived").experiment_id
    kfp_client.archive_experiment(archived)

    def listed(state: str) -> set[str]:
        response = kfp_client.list_experiments(
            filter=filter_json(
                predicate("display_name", "IS_SUBSTRING", stringValue=prefix),
                predicate("storage_state", "EQUALS", stringValue=state),
            )
        )
        return {e.experiment_id for e in response.experiments or []}

    assert listed("ARCHIVED") == {archived}
    assert listed("AVAILABLE") == {kept}


def test_delete_experiment_removes_its_runs_and_recurring_runs(kfp_client) -> None:
    experiment = kfp_client.create_experiment(unique("exp delete"))
    eid = experiment.experiment_id
    runs = [_new_run(kfp_client, eid, f"doomed {i}") for i in range(2)]
    recurring = _new_recurring_run(kfp_client, eid, unique("doomed schedule"))
    survivor_exp = kfp_client.create_experiment(unique("exp survivor")).experiment_id
    survivor = _new_run(kfp_client, survivor_exp, "survivor")

    kfp_client.delete_experiment(eid)

    for call, argument in [
        (lambda x: kfp_client.get_experiment(experiment_id=x), eid),
        (kfp_client.get_run, runs[0]),
        (kfp_client.get_run, runs[1]),
        (kfp_client.get_recurring_run, recurring),
    ]:
        with pytest.raises(ApiException) as caught:
            call(argument)
        assert caught.value.status == 404
    with pytest.raises(ApiException) as caught:
        kfp_client.list_runs(experiment_id=eid)
    assert caught.value.status == 404
    remaining = kfp_client.list_recurring_runs(page_size=200).recurring_runs or []
    assert recurring not in {r.recurring_run_id for r in remaining}
    assert kfp_client.get_run(survivor).state == "PENDING"
    # The name is free again.
    assert kfp_client.create_experiment(experiment.display_name).experiment_id != eid


def test_last_run_created_at_follows_new_runs(kfp_client) -> None:
    experiment = kfp_client.create_experiment(unique("exp last run"))
    fresh = kfp_client.get_experiment(experiment_id=experiment.experiment_id)
    assert fresh.last_run_created_at is None
    run_id = _new_run(kfp_client, experiment.experiment_id, "touch")
    run = kfp_client.get_run(run_id)
    refreshed = kfp_client.get_experiment(experiment_id=experiment.experiment_id)
    assert refreshed.last_run_created_at == run.created_at
