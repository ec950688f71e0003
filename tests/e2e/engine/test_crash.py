"""SIGKILL the server mid-run, start it again on the same data dir: the run resumes from its
last succeeded task, finishes, and no succeeded task runs twice."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import engine_env, start_server, stop_server
from tests.e2e.engine import pipelines as p
from tests.e2e.engine.support import (
    RUN_TIMEOUT,
    TERMINAL,
    describe,
    lines,
    output_parameter,
    poll_file,
    submit,
    task_named,
    wait_for_state,
)
from tests.e2e.support import API

pytestmark = pytest.mark.e2e


def test_run_resumes_after_the_server_is_killed(tmp_path: Path) -> None:
    import kfp

    data_dir = tmp_path / "data"
    side = tmp_path / "side"
    side.mkdir()
    counter = side / "counter"
    os.environ["HOME"] = str(tmp_path)  # no kfp context file from the caller's home

    process, server = start_server(data_dir, extra_env=engine_env())
    try:
        client = kfp.Client(host=server.url)
        # Caching off: only resumption may keep succeeded steps from running again.
        run_id = submit(
            client, p.crash_pipeline, {"side_dir": str(side), "pause": 1.0}, enable_caching=False
        )
        with httpx.Client(base_url=server.url + API, timeout=30) as api:
            wait_for_state(api, run_id, {"RUNNING", *TERMINAL})
        # Step 3 has started, so step 2's success was recorded before it (the engine writes
        # each transition before acting on it).
        poll_file(
            counter, lambda found: any(x.startswith("start 3 ") for x in found), timeout=RUN_TIMEOUT
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    except BaseException:
        stop_server(process)
        raise
    killed_at = lines(counter)

    process, server = start_server(data_dir, extra_env=engine_env())
    try:
        with httpx.Client(base_url=server.url + API, timeout=30) as api:
            run = wait_for_state(api, run_id, timeout=300)
    finally:
        stop_server(process)

    assert run["state"] == "SUCCEEDED", describe(run)
    found = lines(counter)
    starts = Counter(line.split()[1] for line in found if line.startswith("start "))
    ends = Counter(line.split()[1] for line in found if line.startswith("end "))
    steps = [str(i) for i in range(1, p.CRASH_STEPS + 1)]
    assert all(ends[s] >= 1 for s in steps), found
    # Steps 1 and 2 had succeeded before the kill: never again. Step 3 was in flight and
    # may have started twice; those after it ran once.
    for step in ("1", "2", *steps[3:]):
        assert starts[step] == 1 and ends[step] == 1, (step, found, killed_at)
    for index in range(1, p.CRASH_STEPS + 1):
        assert task_named(run, f"step-{index}")["state"] == "SUCCEEDED", describe(run)
    assert output_parameter(task_named(run, f"step-{p.CRASH_STEPS}")) == p.CRASH_STEPS + 1
