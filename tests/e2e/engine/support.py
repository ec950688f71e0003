"""Helpers for the engine acceptance suite: submit, wait for a state, find tasks, read outputs.

The suite reads a run two ways: through ``kfp.Client`` (states, as a KFP user sees them) and
as raw JSON from ``GET /apis/v2beta1/runs/{id}`` (task outputs as the engine records them:
``{"parameters": {...}, "artifacts": {name: [{"uri", "metadata", ...}]}}``). Tasks are found
by ``display_name``, which is the task's ``taskInfo.name`` in the IR: what
``set_display_name`` sets, and the task's key (``add``, ``add-2``) otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.support import API, unique

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"})
#: First runs of Python components build a task environment (pip install kfp) first.
RUN_TIMEOUT = float(os.environ.get("HEADRACE_E2E_RUN_TIMEOUT", "600"))
#: A run no engine has started by then will never finish: fail fast instead of waiting.
PENDING_LIMIT = float(os.environ.get("HEADRACE_E2E_PENDING_LIMIT", "60"))


def submit(
    client: Any,
    pipeline: Callable[..., Any],
    arguments: dict[str, Any],
    *,
    enable_caching: bool | None = None,
    experiment: str = "engine",
) -> str:
    """Compile ``pipeline`` and start a run of it with the real SDK; returns the run id."""
    result = client.create_run_from_pipeline_func(
        pipeline,
        arguments=arguments,
        run_name=unique(pipeline.name),
        experiment_name=experiment,
        enable_caching=enable_caching,
    )
    return str(result.run_id)


def get_run_json(api: httpx.Client, run_id: str) -> dict[str, Any]:
    response = api.get(f"/runs/{run_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def describe(run: dict[str, Any]) -> str:
    """A short account of a run for assertion messages: state, error, every task."""
    lines = [f"run {run.get('run_id')} {run.get('state')} error={run.get('error')}"]
    for task in tasks(run):
        lines.append(
            f"  {task.get('display_name')!r} {task.get('state')} id={task.get('task_id')}"
            f" error={task.get('error')} outputs={json.dumps(task.get('outputs'))[:300]}"
        )
    return "\n".join(lines)


def wait_for_state(
    api: httpx.Client,
    run_id: str,
    states: Iterable[str] = TERMINAL,
    *,
    timeout: float = RUN_TIMEOUT,
    interval: float = 0.2,
) -> dict[str, Any]:
    """Poll the run until its state is one of ``states``; its JSON then. Fails with the
    run's account at the deadline, or early if no engine takes the run out of PENDING.
    (``kfp.Client.wait_for_run_completion`` cannot be used: it does not treat CANCELED as
    terminal.)"""
    wanted = frozenset(states)
    started = time.monotonic()
    deadline = started + timeout
    while True:
        run = get_run_json(api, run_id)
        if run.get("state") in wanted:
            return run
        if run.get("state") == "PENDING" and time.monotonic() - started > PENDING_LIMIT:
            raise AssertionError(
                f"run still PENDING after {PENDING_LIMIT:g}s: no engine started it\n"
                + describe(run)
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run not in {sorted(wanted)} within {timeout:g}s:\n{describe(run)}"
            )
        time.sleep(interval)


def wait_succeeded(api: httpx.Client, run_id: str, *, timeout: float = RUN_TIMEOUT) -> dict:
    run = wait_for_state(api, run_id, timeout=timeout)
    assert run["state"] == "SUCCEEDED", describe(run)
    return run


def tasks(run: dict[str, Any]) -> list[dict[str, Any]]:
    details = (run.get("run_details") or {}).get("task_details") or []
    return list(details)


def tasks_named(run: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [t for t in tasks(run) if t.get("display_name") == name]


def task_named(run: dict[str, Any], name: str) -> dict[str, Any]:
    """The one task called ``name``; fails listing every task if there is not exactly one."""
    found = tasks_named(run, name)
    assert len(found) == 1, f"{len(found)} tasks named {name!r}:\n{describe(run)}"
    return found[0]


def output_parameter(task: dict[str, Any], name: str = "Output") -> Any:
    outputs = task.get("outputs") or {}
    parameters = outputs.get("parameters") or {}
    assert name in parameters, (
        f"no output parameter {name!r} on {task.get('display_name')}: {outputs}"
    )
    return parameters[name]


def output_artifact(task: dict[str, Any], name: str) -> dict[str, Any]:
    """The single artifact of output ``name`` as recorded in the task's outputs."""
    outputs = task.get("outputs") or {}
    artifacts = (outputs.get("artifacts") or {}).get(name)
    assert artifacts and len(artifacts) == 1, (
        f"no single artifact {name!r} on {task.get('display_name')}: {outputs}"
    )
    artifact: dict[str, Any] = artifacts[0]
    return artifact


def read_artifact(server_url: str, run_id: str, node_id: str, name: str) -> bytes:
    """Artifact content through ``...:read`` (``{"data": <base64>}``)."""
    response = httpx.get(
        f"{server_url}{API}/runs/{run_id}/nodes/{node_id}/artifacts/{name}:read", timeout=30
    )
    assert response.status_code == 200, response.text
    return base64.b64decode(response.json()["data"])


def fetch_log(server_url: str, run_id: str, node_id: str) -> str | None:
    """A task's log as the API serves it now; None while there is none to serve."""
    response = httpx.get(
        f"{server_url}/apis/v1alpha1/runs/{run_id}/nodes/{node_id}/log", timeout=30
    )
    return response.text if response.status_code == 200 else None


def read_log(server_url: str, run_id: str, node_id: str) -> str:
    log = fetch_log(server_url, run_id, node_id)
    assert log is not None, f"no log for task {node_id} of run {run_id}"
    return log


def state_history(task: dict[str, Any]) -> list[str]:
    return [entry.get("state") for entry in task.get("state_history") or []]


def is_cache_hit(task: dict[str, Any]) -> bool:
    """Whether the task details say the task's outputs came from the cache.

    Accepted forms: the ``CACHED`` runtime state of newer KFP servers; or a finished task
    (SUCCEEDED or SKIPPED) that never entered RUNNING, since the engine records RUNNING
    before it starts a process and a hit starts none. Tests pair this with a negative control
    (the same pipeline with caching off is no hit) and with a counter file.
    """
    state = task.get("state")
    if state == "CACHED":
        return True
    return state in ("SUCCEEDED", "SKIPPED") and "RUNNING" not in state_history(task)


def lines(path: Path) -> list[str]:
    """The lines of a side file; [] if the file does not exist."""
    return path.read_text().splitlines() if path.exists() else []


def poll_file(path: Path, predicate: Callable[[list[str]], bool], *, timeout: float) -> list[str]:
    """Wait until the lines of ``path`` satisfy ``predicate``; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        found = lines(path)
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never satisfied the condition: {found}")
        time.sleep(0.1)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes: it no longer runs.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))
