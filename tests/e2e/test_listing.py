"""Listing through kfp.Client: page walks, sorting, every filter operation, paging errors."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from kfp_server_api import ApiException

from tests.e2e.support import (
    INVALID_ARGUMENT,
    assert_error,
    corpus,
    filter_json,
    predicate,
    unique,
)

pytestmark = pytest.mark.e2e

RUN_COUNT = 45
PAGE = 7
CANCELED_EVERY = 4


@dataclass(frozen=True)
class Seen:
    run_id: str
    name: str
    created_at: datetime
    created_at_text: str  # exactly as the server wrote it
    state: str


@dataclass(frozen=True)
class Fleet:
    experiment_id: str
    runs: dict[str, Seen]

    def ids(self, keep: Callable[[Seen], bool] = lambda s: True) -> set[str]:
        return {s.run_id for s in self.runs.values() if keep(s)}


@pytest.fixture(scope="module")
def fleet(kfp_client, api) -> Fleet:
    """45 runs in one experiment; display names out of creation order; every 4th cancelled."""
    experiment_id = kfp_client.create_experiment(unique("listing exp")).experiment_id
    pipeline = kfp_client.upload_pipeline(str(corpus("minimal")), pipeline_name=unique("listing"))
    version = kfp_client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    for i in range(RUN_COUNT):
        run_id = kfp_client.run_pipeline(
            experiment_id=experiment_id,
            job_name=f"listing run {(i * 17) % RUN_COUNT:02d}",
            pipeline_id=pipeline.pipeline_id,
            version_id=version.pipeline_version_id,
        ).run_id
        if i % CANCELED_EVERY == 0:
            kfp_client.terminate_run(run_id)
    raw = api.get("/runs", params={"experiment_id": experiment_id, "page_size": 200}).json()
    assert raw["total_size"] == RUN_COUNT
    runs = {
        r["run_id"]: Seen(
            run_id=r["run_id"],
            name=r["display_name"],
            created_at=datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")),
            created_at_text=r["created_at"],
            state=r["state"],
        )
        for r in raw["runs"]
    }
    assert len(runs) == RUN_COUNT
    return Fleet(experiment_id, runs)


def walk(
    kfp_client, experiment_id: str, *, page_size: int = PAGE, sort_by: str = "", filter=None
) -> list[Any]:
    """Every page of a run listing, following next_page_token until it is empty."""
    pages = []
    token = ""
    while True:
        page = kfp_client.list_runs(
            experiment_id=experiment_id,
            page_size=page_size,
            page_token=token,
            sort_by=sort_by,
            filter=filter,
        )
        pages.append(page)
        token = page.next_page_token
        if not token:
            return pages
        assert len(pages) <= RUN_COUNT, "paging does not end"


def flatten(pages: list[Any]) -> list[Any]:
    return [run for page in pages for run in page.runs or []]


# --- paging ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort_by", ["", "created_at", "created_at desc", "display_name", "display_name desc"]
)
def test_page_walk_sees_every_run_once(kfp_client, fleet, sort_by) -> None:
    pages = walk(kfp_client, fleet.experiment_id, sort_by=sort_by)

    assert len(pages) == math.ceil(RUN_COUNT / PAGE)
    for page in pages:
        assert page.total_size == RUN_COUNT
    assert [len(p.runs) for p in pages] == [PAGE] * (len(pages) - 1) + [RUN_COUNT % PAGE or PAGE]
    ids = [r.run_id for r in flatten(pages)]
    assert len(ids) == len(set(ids)), "a run was listed twice"
    assert set(ids) == fleet.ids()


def test_sort_by_created_at(kfp_client, fleet) -> None:
    ascending = flatten(walk(kfp_client, fleet.experiment_id))  # the default order
    descending = flatten(walk(kfp_client, fleet.experiment_id, sort_by="created_at desc"))

    created = [fleet.runs[r.run_id].created_at for r in ascending]
    assert created == sorted(created)
    created_desc = [fleet.runs[r.run_id].created_at for r in descending]
    assert created_desc == sorted(created_desc, reverse=True)
    assert [r.run_id for r in descending] == [r.run_id for r in reversed(ascending)]
    explicit = flatten(walk(kfp_client, fleet.experiment_id, sort_by="created_at asc"))
    assert [r.run_id for r in explicit] == [r.run_id for r in ascending]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_sort_by_display_name(kfp_client, fleet, descending) -> None:
    sort_by = "display_name desc" if descending else "display_name"
    names = [
        r.display_name for r in flatten(walk(kfp_client, fleet.experiment_id, sort_by=sort_by))
    ]

    expected = sorted((s.name for s in fleet.runs.values()), reverse=descending)
    assert names == expected
    # The names were created out of order, so this is not the creation order by accident.
    by_creation = [s.name for s in sorted(fleet.runs.values(), key=lambda s: s.created_at)]
    assert names != by_creation


def test_filtered_walk_keeps_total_size_of_the_filter(kfp_client, fleet) -> None:
    wanted = filter_json(predicate("state", "EQUALS", stringValue="CANCELED"))
    pages = walk(
        kfp_client, fleet.experiment_id, page_size=3, sort_by="display_name", filter=wanted
    )

    expected = fleet.ids(lambda s: s.state == "CANCELED")
    assert len(expected) == math.ceil(RUN_COUNT / CANCELED_EVERY)
    assert all(p.total_size == len(expected) for p in pages)
    assert [r.run_id for r in flatten(pages)] == [
        s.run_id for s in sorted(fleet.runs.values(), key=lambda s: s.name) if s.state == "CANCELED"
    ]


def test_paging_is_stable_when_runs_come_and_go(kfp_client) -> None:
    experiment_id = kfp_client.create_experiment(unique("listing churn")).experiment_id
    minimal = str(corpus("minimal"))

    def add(name: str) -> str:
        return kfp_client.run_pipeline(
            experiment_id=experiment_id, job_name=name, pipeline_package_path=minimal
        ).run_id

    ids = [add(f"churn {i}") for i in range(5)]
    first = kfp_client.list_runs(experiment_id=experiment_id, page_size=2)
    assert [r.run_id for r in first.runs] == ids[:2]
    kfp_client.delete_run(ids[0])  # already seen
    late = add("churn late")  # sorts after everything listed so far

    rest = flatten(walk_from(kfp_client, experiment_id, first.next_page_token, page_size=2))

    assert [r.run_id for r in rest] == [*ids[2:], late]


def walk_from(kfp_client, experiment_id: str, token: str, page_size: int) -> list[Any]:
    pages = []
    while token:
        page = kfp_client.list_runs(
            experiment_id=experiment_id, page_size=page_size, page_token=token
        )
        pages.append(page)
        token = page.next_page_token
    return pages


def test_page_size_above_the_maximum_is_clamped_to_200(api) -> None:
    prefix = unique("clamp")
    for i in range(205):
        response = api.post("/experiments", json={"display_name": f"{prefix} {i:03d}"})
        assert response.status_code == 200, response.text
    params = {
        "page_size": 500,
        "filter": filter_json(predicate("display_name", "IS_SUBSTRING", stringValue=prefix)),
    }

    first = api.get("/experiments", params=params).json()
    assert len(first["experiments"]) == 200
    assert first["total_size"] == 205
    assert first["next_page_token"]
    rest = api.get("/experiments", params={**params, "page_token": first["next_page_token"]}).json()
    assert len(rest["experiments"]) == 5
    assert "next_page_token" not in rest or not rest["next_page_token"]
    names = [e["display_name"] for e in first["experiments"] + rest["experiments"]]
    assert len(set(names)) == 205


def test_page_size_500_lists_a_small_set_whole(kfp_client, fleet) -> None:
    page = kfp_client.list_runs(experiment_id=fleet.experiment_id, page_size=500)
    assert {r.run_id for r in page.runs} == fleet.ids()
    assert not page.next_page_token


def test_default_page_size_is_20(api, fleet) -> None:
    for params in ({}, {"page_size": "", "page_token": "", "sort_by": ""}, {"page_size": 0}):
        body = api.get("/runs", params={"experiment_id": fleet.experiment_id, **params}).json()
        assert len(body["runs"]) == 20, params
        assert body["total_size"] == RUN_COUNT
        assert body["next_page_token"]


# --- filters -----------------------------------------------------------------------------

OPERATIONS: dict[str, tuple[int, Callable[[Any, Any], bool]]] = {
    "EQUALS": (1, operator.eq),
    "NOT_EQUALS": (2, operator.ne),
    "GREATER_THAN": (3, operator.gt),
    "GREATER_THAN_EQUALS": (5, operator.ge),
    "LESS_THAN": (6, operator.lt),
    "LESS_THAN_EQUALS": (7, operator.le),
    "IN": (8, lambda value, values: value in values),
    "IS_SUBSTRING": (9, lambda value, needle: needle in value),
}
# How a predicate is spelled: the operation as enum name or number, the value key in
# camelCase (what kfp.Client sends) or snake_case (the proto name); every combination.
STYLES = {
    f"{op_style}-{key_style}": (op_style, key_style)
    for op_style in ("name", "number")
    for key_style in ("camel", "snake")
}


def _op(name: str, style: str) -> str | int:
    return name if STYLES[style][0] == "name" else OPERATIONS[name][0]


def _key(snake: str, style: str) -> str:
    if STYLES[style][1] == "snake":
        return snake
    head, _, tail = snake.partition("_")
    return head + tail.capitalize()


def listed_ids(kfp_client, fleet: Fleet, *predicates: dict[str, Any]) -> set[str]:
    page = kfp_client.list_runs(
        experiment_id=fleet.experiment_id, page_size=200, filter=filter_json(*predicates)
    )
    ids = {r.run_id for r in page.runs or []}
    assert page.total_size == len(ids)
    return ids


STRING_ARGUMENTS = {
    "EQUALS": "listing run 07",
    "NOT_EQUALS": "listing run 07",
    "GREATER_THAN": "listing run 30",
    "GREATER_THAN_EQUALS": "listing run 30",
    "LESS_THAN": "listing run 12",
    "LESS_THAN_EQUALS": "listing run 12",
    "IN": ["listing run 01", "listing run 44", "listing run 99"],
    "IS_SUBSTRING": "run 1",
}


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("op", list(OPERATIONS))
def test_string_filter_on_display_name(kfp_client, fleet, op, style) -> None:
    argument = STRING_ARGUMENTS[op]
    if op == "IN":
        value = {_key("string_values", style): {"values": argument}}
    else:
        value = {_key("string_value", style): argument}
    check = OPERATIONS[op][1]

    got = listed_ids(kfp_client, fleet, predicate("display_name", _op(op, style), **value))

    expected = fleet.ids(lambda s: check(s.name, argument))
    assert expected and expected != fleet.ids(), "the case should select a proper subset"
    assert got == expected


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("op", [o for o in OPERATIONS if o not in ("IN", "IS_SUBSTRING")])
def test_timestamp_filter_on_created_at(kfp_client, fleet, op, style) -> None:
    ordered = sorted(fleet.runs.values(), key=lambda s: s.created_at)
    pivot = ordered[len(ordered) // 2]
    check = OPERATIONS[op][1]

    got = listed_ids(
        kfp_client,
        fleet,
        predicate(
            "created_at", _op(op, style), **{_key("timestamp_value", style): pivot.created_at_text}
        ),
    )

    assert got == fleet.ids(lambda s: check(s.created_at, pivot.created_at))
    assert got and got != fleet.ids()


@pytest.mark.parametrize("op", [o for o in OPERATIONS if o not in ("IN", "IS_SUBSTRING")])
def test_created_at_filter_by_unix_seconds(kfp_client, fleet, op) -> None:
    newest = max(s.created_at for s in fleet.runs.values())
    seconds = int(newest.timestamp())
    bound = datetime.fromtimestamp(seconds, UTC)
    check = OPERATIONS[op][1]

    got = listed_ids(kfp_client, fleet, predicate("created_at", op, long_value=str(seconds)))
    assert got == fleet.ids(lambda s: check(s.created_at, bound))
    got_int = listed_ids(
        kfp_client, fleet, predicate("created_at", OPERATIONS[op][0], intValue=seconds)
    )
    assert got_int == got


def test_timestamp_filters_compose(kfp_client, fleet) -> None:
    ordered = sorted(fleet.runs.values(), key=lambda s: s.created_at)
    low, high = ordered[10], ordered[30]
    got = listed_ids(
        kfp_client,
        fleet,
        predicate("created_at", "GREATER_THAN_EQUALS", timestampValue=low.created_at_text),
        predicate("created_at", "LESS_THAN", timestamp_value=high.created_at_text),
    )
    assert got == {s.run_id for s in ordered[10:30]}


@pytest.mark.parametrize(
    ("predicates", "keep"),
    [
        ([predicate("state", "EQUALS", stringValue="CANCELED")], lambda s: s.state == "CANCELED"),
        ([predicate("state", 1, string_value="PENDING")], lambda s: s.state == "PENDING"),
        ([predicate("state", "NOT_EQUALS", stringValue="PENDING")], lambda s: s.state != "PENDING"),
        ([predicate("state", "EQUALS", int_value=7)], lambda s: s.state == "CANCELED"),
        (
            [predicate("state", "IN", stringValues={"values": ["CANCELED", "FAILED"]})],
            lambda s: s.state == "CANCELED",
        ),
        (
            [
                predicate("state", "EQUALS", stringValue="CANCELED"),
                predicate("display_name", "IS_SUBSTRING", stringValue="run 2"),
            ],
            lambda s: s.state == "CANCELED" and "run 2" in s.name,
        ),
        ([predicate("storage_state", "EQUALS", stringValue="ARCHIVED")], lambda s: False),
    ],
    ids=["canceled", "pending-by-number", "not-pending", "enum-number", "in", "and", "archived"],
)
def test_enum_filters(kfp_client, fleet, predicates, keep) -> None:
    assert listed_ids(kfp_client, fleet, *predicates) == fleet.ids(keep)


def test_list_without_experiment_scope(kfp_client, fleet) -> None:
    # kfp.Client sends namespace= (empty) when no experiment is given: it means "unset".
    page = kfp_client.list_runs(
        page_size=200,
        filter=filter_json(predicate("display_name", "IS_SUBSTRING", stringValue="listing run")),
    )
    assert {r.run_id for r in page.runs} == fleet.ids()
    assert page.total_size == RUN_COUNT


def test_filters_on_other_resources(kfp_client, fleet) -> None:
    experiments = kfp_client.list_experiments(
        filter=filter_json(predicate("experiment_id", 1, string_value=fleet.experiment_id))
    )
    assert [e.experiment_id for e in experiments.experiments] == [fleet.experiment_id]
    pipelines = kfp_client.list_pipelines(
        filter=filter_json(predicate("display_name", "IS_SUBSTRING", stringValue="listing-"))
    )
    assert pipelines.total_size >= 1
    assert all("listing-" in p.display_name for p in pipelines.pipelines)


# --- paging and filter errors ---------------------------------------------------------------


def test_bad_page_size_is_400(kfp_client, api, fleet) -> None:
    with pytest.raises(ApiException) as caught:
        kfp_client.list_runs(experiment_id=fleet.experiment_id, page_size=-1)
    assert caught.value.status == 400
    for bad in ("-1", "ten", "1.5"):
        response = api.get("/runs", params={"experiment_id": fleet.experiment_id, "page_size": bad})
        assert_error(response, 400, INVALID_ARGUMENT, "page_size")


def test_garbage_page_token_is_400(kfp_client, api, fleet) -> None:
    with pytest.raises(ApiException) as caught:
        kfp_client.list_runs(experiment_id=fleet.experiment_id, page_token="not-a-token")
    assert caught.value.status == 400
    for bad in ("garbage", "eyJmb28iOiAxfQ==", "%%%", "a" * 500):
        response = api.get(
            "/runs", params={"experiment_id": fleet.experiment_id, "page_token": bad}
        )
        assert_error(response, 400, INVALID_ARGUMENT, "page_token")


def test_page_token_is_bound_to_its_query(kfp_client, api, fleet) -> None:
    by_name = filter_json(predicate("display_name", "IS_SUBSTRING", stringValue="listing"))
    first = kfp_client.list_runs(
        experiment_id=fleet.experiment_id, page_size=PAGE, filter=by_name, sort_by="display_name"
    )
    token = first.next_page_token
    assert token
    other_filter = filter_json(predicate("display_name", "IS_SUBSTRING", stringValue="run"))
    other_experiment = kfp_client.create_experiment(unique("listing other")).experiment_id
    for changed in (
        {"filter": other_filter, "sort_by": "display_name"},
        {"filter": by_name, "sort_by": "display_name desc"},
        {"filter": by_name, "sort_by": "created_at"},
        {"sort_by": "display_name"},
    ):
        with pytest.raises(ApiException) as caught:
            kfp_client.list_runs(
                experiment_id=fleet.experiment_id, page_size=PAGE, page_token=token, **changed
            )
        assert caught.value.status == 400, changed
    with pytest.raises(ApiException) as caught:
        kfp_client.list_runs(
            experiment_id=other_experiment,
            page_size=PAGE,
            page_token=token,
            filter=by_name,
            sort_by="display_name",
        )
    assert caught.value.status == 400
    # A token from the runs list means nothing to the experiments list.
    assert_error(api.get("/experiments", params={"page_token": token}), 400, INVALID_ARGUMENT)
    # The same query again still continues.
    again = kfp_client.list_runs(
        experiment_id=fleet.experiment_id,
        page_size=PAGE,
        page_token=token,
        filter=by_name,
        sort_by="display_name",
    )
    assert again.total_size == RUN_COUNT


@pytest.mark.parametrize(
    ("sort_by", "fragment"),
    [
        ("no_such_field", "no_such_field"),
        ("description", "description"),
        ("display_name sideways", "sideways"),
        ("display_name desc extra", "sort_by"),
    ],
)
def test_bad_sort_by_is_400(kfp_client, api, fleet, sort_by, fragment) -> None:
    with pytest.raises(ApiException) as caught:
        kfp_client.list_runs(experiment_id=fleet.experiment_id, sort_by=sort_by)
    assert caught.value.status == 400
    assert_error(api.get("/runs", params={"sort_by": sort_by}), 400, INVALID_ARGUMENT, fragment)


@pytest.mark.parametrize(
    ("raw_filter", "fragment"),
    [
        ("{not json", "filter"),
        ("[]", "filter"),
        (
            json.dumps({"predicates": [{"key": "nope", "operation": 1, "string_value": "x"}]}),
            "nope",
        ),
        (
            json.dumps(
                {"predicates": [{"key": "display_name", "operation": 4, "string_value": "x"}]}
            ),
            "operation",
        ),
        (
            json.dumps(
                {"predicates": [{"key": "display_name", "operation": "LIKE", "string_value": "x"}]}
            ),
            "LIKE",
        ),
        (
            json.dumps(
                {"predicates": [{"key": "created_at", "operation": 9, "string_value": "x"}]}
            ),
            "IS_SUBSTRING",
        ),
        (
            json.dumps(
                {"predicates": [{"key": "state", "operation": 3, "string_value": "PENDING"}]}
            ),
            "GREATER_THAN",
        ),
        (
            json.dumps({"predicates": [{"key": "state", "operation": 1, "string_value": "DONE"}]}),
            "DONE",
        ),
        (
            json.dumps(
                {
                    "predicates": [
                        {"key": "created_at", "operation": 1, "timestamp_value": "yesterday"}
                    ]
                }
            ),
            "yesterday",
        ),
        (json.dumps({"predicates": [{"key": "display_name", "operation": 1}]}), "display_name"),
        (
            json.dumps(
                {"predicates": [{"key": "display_name", "operation": 8, "string_value": "x"}]}
            ),
            "IN",
        ),
    ],
    ids=[
        "not-json",
        "not-object",
        "unknown-key",
        "op-4",
        "op-unknown",
        "substring-on-timestamp",
        "order-on-enum",
        "unknown-enum-value",
        "bad-timestamp",
        "no-value",
        "in-without-list",
    ],
)
def test_bad_filter_is_400(api, fleet, raw_filter, fragment) -> None:
    response = api.get("/runs", params={"experiment_id": fleet.experiment_id, "filter": raw_filter})
    assert_error(response, 400, INVALID_ARGUMENT, fragment)
