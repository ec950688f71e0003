"""After a crash, the next server kills the task processes the old one left running: the
run's pid list names them with their start times, so a reused pid (an unrelated process)
is left alone and a task that cleared its environment is still found; lines of older
servers (a pid alone) count when the process's environment names the run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_server.backends.embedded.artifact_store import ArtifactStore
from api_server.backends.embedded.environments import Environments
from api_server.backends.embedded.launcher import ProcessLauncher
from api_server.backends.embedded.runner import JobRunner, RunnerConfig
from api_server.backends.embedded.spawn import process_start, record_pid
from tests.e2e.support import poll


@pytest.fixture
def runner(tmp_path: Path) -> JobRunner:
    return JobRunner(
        RunnerConfig(work_dir=tmp_path / "work"),
        launcher=ProcessLauncher(),
        environments=Environments(tmp_path / "envs"),
        artifacts=ArtifactStore(tmp_path / "artifacts"),
        default_pipeline_root=str(tmp_path / "artifacts"),
    )


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _sleeper(
    started: list[subprocess.Popen[bytes]], run_id: str | None = None, *, clean: bool = False
) -> subprocess.Popen[bytes]:
    """``sleep 300`` in a session of its own; with the run's id in its environment, or
    (``clean``) under ``env -i``, as a task that clears its environment runs."""
    env = {**os.environ, "HEADRACE_RUN_ID": run_id} if run_id else None
    command = ["env", "-i", "sleep", "300"] if clean else ["sleep", "300"]
    process = subprocess.Popen(command, start_new_session=True, env=env)
    started.append(process)
    return process


def _ended(process: subprocess.Popen[bytes]) -> bool:
    """Waits for the process to end (the shared ``poll`` fails if it never does)."""
    return poll(lambda: process.poll() is not None)


def test_listed_processes_are_killed_by_start_time_even_with_their_environment_cleared(
    runner: JobRunner, sleepers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    cleared = _sleeper(sleepers, "run-1", clean=True)
    plain = _sleeper(sleepers, "run-1")
    reused = _sleeper(sleepers, "run-1")  # listed with another start time: a reused pid
    # Once ``env -i`` has exec'd the sleep, its environment is empty.
    poll(lambda: Path(f"/proc/{cleared.pid}/environ").read_bytes() == b"")
    run_dir = tmp_path / "work" / "run-1"
    run_dir.mkdir(parents=True)
    pid_list = run_dir / "tasks.pids"
    record_pid(str(pid_list), cleared.pid)
    record_pid(str(pid_list), plain.pid)
    with pid_list.open("a") as listed:
        listed.write(f"{reused.pid} {(process_start(reused.pid) or 0) + 1}\n")

    runner.reap_orphans("run-1")

    assert _ended(cleared) and _ended(plain)
    assert cleared.returncode == plain.returncode == -signal.SIGKILL
    assert reused.poll() is None
    assert not pid_list.exists()


def test_processes_in_the_pid_list_are_killed_and_the_list_is_removed(
    runner: JobRunner, sleepers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    left = _sleeper(sleepers, "run-1")
    # A pid in the list now belonging to a process of no run, or of another run: reused.
    unrelated, other_run = _sleeper(sleepers), _sleeper(sleepers, "run-2")
    run_dir = tmp_path / "work" / "run-1"
    run_dir.mkdir(parents=True)
    (run_dir / "tasks.pids").write_text(
        f"{left.pid}\n{unrelated.pid}\n{other_run.pid}\nnot a line\n"
    )

    runner.reap_orphans("run-1")

    assert _ended(left)
    assert left.returncode == -signal.SIGKILL
    assert unrelated.poll() is None and other_run.poll() is None
    assert not (run_dir / "tasks.pids").exists()


def test_pid_files_of_older_servers_are_honoured(
    runner: JobRunner, sleepers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    left, reused = _sleeper(sleepers), _sleeper(sleepers)
    task_dir = tmp_path / "work" / "run-2" / "for-loop-1" / "iteration-0" / "step"
    task_dir.mkdir(parents=True)
    (task_dir / "task.pid").write_text(f"{left.pid} {process_start(left.pid)}")
    other_dir = task_dir.with_name("other")
    other_dir.mkdir()
    # Same pid number as a live process but another start time: a reused pid.
    (other_dir / "task.pid").write_text(f"{reused.pid} {(process_start(reused.pid) or 0) + 1}")

    runner.reap_orphans("run-2")

    assert _ended(left)
    assert reused.poll() is None
    assert not (task_dir / "task.pid").exists()
