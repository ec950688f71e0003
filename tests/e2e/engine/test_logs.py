"""Task logs through the API while tasks run: ``?follow=true`` streams a running task's
output as it comes and ends when the task ends; tasks running side by side, which share
their run's log file, each read back only their own lines."""

# No "from __future__ import annotations": kfp reads the component signatures' real types.

import httpx
import pytest
from kfp import dsl

from tests.e2e.engine.support import read_log, submit, tasks_named, wait_succeeded
from tests.e2e.support import poll

pytestmark = pytest.mark.e2e


@dsl.container_component
def talk(item: int) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["sh", "-c", 'echo "$0 first"; sleep 1.5; echo "$0 second" >&2'],
        args=[item],
    )


@dsl.pipeline(name="talking")
def talking() -> None:
    with dsl.ParallelFor([1, 2, 3]) as item:
        talk(item=item).set_caching_options(False)


def test_follow_streams_a_running_task_and_each_task_reads_its_own_lines(
    kfp_client, api, server
) -> None:
    run_id = submit(kfp_client, talking, {})
    running = poll(
        lambda: [
            t
            for t in tasks_named(api.get(f"/runs/{run_id}").json(), "talk")
            if t.get("state") == "RUNNING"
        ],
        timeout=60,
    )
    url = f"{server.url}/apis/v1alpha1/runs/{run_id}/nodes/{running[0]['task_id']}/log"
    chunks: list[str] = []
    with httpx.stream("GET", url, params={"follow": "true"}, timeout=30) as response:
        assert response.status_code == 200
        chunks.extend(response.iter_text())
    lines = [line for line in "".join(chunks).splitlines() if not line.startswith("--- ")]
    # The task was running when asked; the stream gave its lines in order and ended on its
    # own once the task had ended.
    item = lines[0].split()[0]
    assert lines == [f"{item} first", f"{item} second"]

    finished = wait_succeeded(api, run_id)
    for task in tasks_named(finished, "talk"):
        log = read_log(server.url, run_id, task["task_id"])
        lines = [line for line in log.splitlines() if not line.startswith("--- attempt")]
        (item,) = {line.split()[0] for line in lines}
        assert lines == [f"{item} first", f"{item} second"], log
