"""The task starter process: tasks do not outlive it or the server, and a starter that dies
is replaced."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_server.backends.embedded import spawn
from api_server.backends.embedded.launcher import (
    LaunchError,
    LocalProcess,
    ProcessLauncher,
    _StarterLink,
)
from domain.task_logs import RunLog
from tests.e2e.support import poll

# A task that leaves a grandchild in its group; both write their pids to $1.
TREE = 'sleep 300 & echo $! >> "$1"; echo $$ >> "$1"; wait'


@pytest.fixture
def launcher() -> Iterator[ProcessLauncher]:
    launcher = ProcessLauncher(grace_period=0.5)
    yield launcher
    for link in _links(launcher):
        for process in list(link.processes.values()):
            process.kill()
    launcher.close()


def _start_tree(launcher: ProcessLauncher, tmp_path: Path, name: str) -> tuple[LocalProcess, Path]:
    pids = tmp_path / f"{name}.pids"
    process = launcher.start(
        ["sh", "-c", TREE, "sh", str(pids)],
        env=dict(os.environ),
        cwd=tmp_path,
        output=RunLog(tmp_path / "tasks.log").output(name),
        pid_list=tmp_path / "tasks.pids",
    )
    poll(lambda: pids.exists() and len(pids.read_text().split()) == 2)
    return process, pids


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie no one has reaped yet counts as gone.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def _links(launcher: ProcessLauncher) -> list[_StarterLink]:
    watcher = launcher._watcher
    return [] if watcher is None else [link for link in watcher._starters if link is not None]


def test_tasks_are_started_by_the_starter_and_listed(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    process, pids = _start_tree(launcher, tmp_path, "one")
    (links,) = [[link for link in _links(launcher) if process.token in link.processes]]
    assert poll(lambda: process.pid) == int(pids.read_text().split()[1])
    # The starter is the task's parent, and it wrote the pid list.
    parent = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    assert int(parent) == links[0].process.pid
    started = spawn.process_start(process.pid)
    assert (tmp_path / "tasks.pids").read_text() == f"{process.pid} {started}\n"


def test_the_starter_stops_its_tasks_when_the_server_goes(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    processes = [_start_tree(launcher, tmp_path, f"task{n}") for n in range(4)]
    links = _links(launcher)
    assert links
    all_pids = [int(pid) for _, pids in processes for pid in pids.read_text().split()]
    assert not any(_gone(pid) for pid in all_pids)

    for link in links:  # what the server's exit does to the starter's socket
        link.sock.shutdown(socket.SHUT_RDWR)
        assert link.process.wait(timeout=10) == 0  # it ended by itself

    poll(lambda: all(_gone(pid) for pid in all_pids))
    assert [process.wait(timeout=10) for process, _ in processes] == [-signal.SIGKILL] * 4


def test_a_starter_that_dies_ends_its_tasks_and_is_replaced(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    processes = [_start_tree(launcher, tmp_path, f"task{n}") for n in range(2)]
    dead = _links(launcher)
    for link in dead:
        os.kill(link.process.pid, signal.SIGKILL)
    for process, pids in processes:
        assert process.wait(timeout=10) == -signal.SIGKILL
        poll(lambda p=pids: all(_gone(int(pid)) for pid in p.read_text().split()))

    after = launcher.start(
        ["sh", "-c", "echo again"],
        env=dict(os.environ),
        cwd=tmp_path,
        output=RunLog(tmp_path / "tasks.log").output("after"),
    )
    assert after.wait(timeout=10) == 0
    assert all(link.closed for link in dead)
    (replacement,) = [link for link in _links(launcher) if link not in dead]
    assert replacement.process.poll() is None


def test_a_command_too_large_for_the_starter_is_refused_at_once(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    with pytest.raises(LaunchError, match="its command and environment take"):
        launcher.start(
            ["echo", "x" * (2 << 20)],
            env=dict(os.environ),
            cwd=tmp_path,
            output=RunLog(tmp_path / "tasks.log").output("big"),
        )
    fine = launcher.start(
        ["echo", "x" * 1000],
        env=dict(os.environ),
        cwd=tmp_path,
        output=RunLog(tmp_path / "tasks.log").output("fine"),
    )
    assert fine.wait(timeout=10) == 0
