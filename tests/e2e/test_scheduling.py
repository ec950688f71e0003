"""Recurring runs fire inside a real ``headrace serve``, driven by the real kfp.Client:
a periodic schedule produces runs, disabling stops it, and a server killed with SIGKILL
fires the missed slots exactly once on restart (all of them with catch-up, only the
latest without). The periodic test's server runs its engine, so its runs execute; the
SIGKILL tests are about firing only, so their server keeps runs PENDING, every schedule
allows 10 active runs and each test stays under 10 slots."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningServer, start_server, stop_server
from tests.e2e.support import corpus, filter_json, poll, predicate, unique

pytestmark = pytest.mark.e2e

INTERVAL = 2
EQUALS = 1
NO_ENGINE = {"HEADRACE_RUN_ENGINE": "none"}


@pytest.fixture(scope="module")
def server(engine_server: RunningServer) -> RunningServer:
    """This module's runs execute: its server runs the engine."""
    return engine_server


def client_for(server: RunningServer, home: Path) -> Any:
    os.environ["HOME"] = str(home)
    import kfp

    return kfp.Client(host=server.url)


def scheduled_runs(kfp_client: Any, experiment_id: str, recurring_run_id: str) -> list[Any]:
    """The run history of a recurring run, as the SDK lists it (filter recurring_run_id)."""
    runs: list[Any] = []
    token = ""
    while True:
        page = kfp_client.list_runs(
            experiment_id=experiment_id,
            page_size=100,
            page_token=token,
            filter=filter_json(predicate("recurring_run_id", EQUALS, stringValue=recurring_run_id)),
        )
        runs.extend(page.runs or [])
        token = page.next_page_token
        if not token:
            return sorted(runs, key=lambda run: run.scheduled_at)


def every_two_seconds(kfp_client: Any, experiment_id: str, **kwargs: Any) -> Any:
    return kfp_client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=unique("every two seconds"),
        interval_second=INTERVAL,
        max_concurrency=10,
        pipeline_package_path=str(corpus("scalar_params")),
        **kwargs,
    )


def assert_one_run_per_slot(runs: list[Any]) -> list[datetime]:
    slots = [run.scheduled_at for run in runs]
    assert len(slots) == len(set(slots)), f"a slot fired twice: {slots}"
    assert len({run.run_id for run in runs}) == len(runs)
    return slots


def assert_no_gap(slots: list[datetime]) -> None:
    """Consecutive slots, one interval apart: none skipped."""
    assert [b - a for a, b in pairwise(slots)] == [timedelta(seconds=INTERVAL)] * (len(slots) - 1)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A server of this test alone, which the test may kill and restart."""
    state: dict[str, Any] = {"data_dir": tmp_path / "data", "home": tmp_path / "home"}
    state["home"].mkdir()
    state["process"], state["server"] = start_server(state["data_dir"], extra_env=NO_ENGINE)
    try:
        yield state
    finally:
        if state["process"].poll() is None:
            stop_server(state["process"])
        log = state["server"].log()
        assert "Traceback" not in log, log[-4000:]


def kill_and_restart(state: dict[str, Any], downtime: float) -> datetime:
    """SIGKILL the server, wait, start it again on the same data; returns the kill time."""
    process: subprocess.Popen[bytes] = state["process"]
    process.kill()
    process.wait()
    killed_at = datetime.now().astimezone()
    time.sleep(downtime)
    state["process"], state["server"] = start_server(state["data_dir"], extra_env=NO_ENGINE)
    return killed_at


def test_a_periodic_schedule_creates_runs_and_disabling_stops_it(
    kfp_client: Any, server: RunningServer
) -> None:
    experiment_id = kfp_client.create_experiment(unique("scheduled")).experiment_id
    recurring = every_two_seconds(
        kfp_client, experiment_id, params={"label": "slot [[ScheduledTime.15:04:05]] #[[Index]]"}
    )

    runs = poll(
        lambda: (
            (r := scheduled_runs(kfp_client, experiment_id, recurring.recurring_run_id))
            and len(r) >= 3
            and r
        ),
        timeout=20,
        interval=0.2,
    )
    slots = assert_one_run_per_slot(runs)
    assert_no_gap(slots)
    for index, run in enumerate(runs, start=1):
        full = kfp_client.get_run(run.run_id)
        assert full.recurring_run_id == recurring.recurring_run_id
        assert full.experiment_id == experiment_id
        assert full.display_name.startswith(f"{recurring.display_name}-{index}-")
        assert full.runtime_config.parameters["label"] == (
            f"slot {full.scheduled_at:%H:%M:%S} #{index}"
        )
        # Fired for its slot, never before it, and while the schedule ran rather than long
        # after. How late is a timing, not a behaviour: the bound leaves room for a loaded
        # machine (one CI run saw the whole server stall for 6 s).
        assert timedelta(0) <= full.created_at - full.scheduled_at < timedelta(seconds=15)

    # The fired runs execute to the end.
    for run in runs:
        finished = poll(
            lambda run_id=run.run_id: (
                (r := kfp_client.get_run(run_id)).state in ("SUCCEEDED", "FAILED") and r
            ),
            timeout=120,
            interval=0.5,
        )
        assert finished.state == "SUCCEEDED", finished.error

    kfp_client.disable_recurring_run(recurring.recurring_run_id)
    assert kfp_client.get_recurring_run(recurring.recurring_run_id).status == "DISABLED"
    stopped = len(scheduled_runs(kfp_client, experiment_id, recurring.recurring_run_id))
    time.sleep(3 * INTERVAL)
    assert len(scheduled_runs(kfp_client, experiment_id, recurring.recurring_run_id)) == stopped

    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    lag_count = next(
        line
        for line in metrics.splitlines()
        if line.startswith("headrace_schedule_fire_lag") and "_count" in line
    )
    assert float(lag_count.split()[-1]) >= stopped
    assert "headrace_schedule_lag_seconds" in metrics


def test_after_sigkill_catch_up_fires_every_missed_slot_once(own_server: dict[str, Any]) -> None:
    kfp_client = client_for(own_server["server"], own_server["home"])
    experiment_id = kfp_client.create_experiment(unique("catch up")).experiment_id
    recurring = every_two_seconds(kfp_client, experiment_id)
    poll(
        lambda: len(scheduled_runs(kfp_client, experiment_id, recurring.recurring_run_id)) >= 1,
        timeout=15,
        interval=0.2,
    )
    killed_at = kill_and_restart(own_server, downtime=3 * INTERVAL)
    kfp_client = client_for(own_server["server"], own_server["home"])
    restarted_at = datetime.now().astimezone()

    runs = poll(
        lambda: (
            (r := scheduled_runs(kfp_client, experiment_id, recurring.recurring_run_id))
            and r[-1].scheduled_at > restarted_at
            and r
        ),
        timeout=20,
        interval=0.2,
    )
    slots = assert_one_run_per_slot(runs)
    # Every slot from the first to the last, the ones of the downtime included.
    assert_no_gap(slots)
    missed = [run for run in runs if killed_at < run.scheduled_at < restarted_at]
    assert len(missed) >= 2
    assert all(run.created_at > restarted_at - timedelta(seconds=30) for run in missed)


def test_after_sigkill_no_catchup_fires_only_the_latest_missed_slot(
    own_server: dict[str, Any],
) -> None:
    kfp_client = client_for(own_server["server"], own_server["home"])
    experiment_id = kfp_client.create_experiment(unique("no catch up")).experiment_id
    recurring = every_two_seconds(kfp_client, experiment_id, no_catchup=True)
    poll(
        lambda: len(scheduled_runs(kfp_client, experiment_id, recurring.recurring_run_id)) >= 1,
        timeout=15,
        interval=0.2,
    )
    before = scheduled_runs(kfp_client, experiment_id, recurring.recurring_run_id)
    kill_and_restart(own_server, downtime=4 * INTERVAL)
    kfp_client = client_for(own_server["server"], own_server["home"])

    runs = poll(
        lambda: (
            (r := scheduled_runs(kfp_client, experiment_id, recurring.recurring_run_id))
            and len(r) >= len(before) + 2
            and r
        ),
        timeout=20,
        interval=0.2,
    )
    assert_one_run_per_slot(runs)
    last_before = max(run.scheduled_at for run in before)
    after = [run for run in runs if run.scheduled_at > last_before]
    # The first run after the restart is the latest missed slot: the ones before it in the
    # downtime were skipped, and it was created less than one interval after its slot.
    first = after[0]
    assert first.scheduled_at - last_before >= timedelta(seconds=3 * INTERVAL)
    assert first.created_at - first.scheduled_at < timedelta(seconds=INTERVAL)
    # From then on the schedule runs on its grid again.
    assert after[1].scheduled_at - first.scheduled_at == timedelta(seconds=INTERVAL)
