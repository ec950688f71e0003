"""The process launcher against real processes: logs, exit codes, timeouts, killing trees."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_server.backends.embedded.launcher import (
    LAUNCH_FAILED_CODE,
    LaunchError,
    LocalProcess,
    ProcessLauncher,
)
from domain.task_logs import RunLog, read_stream
from tests.e2e.support import poll

# Forks a background sleep and a subshell that forks another, records their pids, then waits.
TREE_SCRIPT = """
sleep 300 &
echo $! >> "$1"
( sleep 300 & echo $! >> "$1"; wait ) &
echo $! >> "$1"
echo started
wait
"""


_started: list[LocalProcess] = []
STREAM = "task-1"


@pytest.fixture(autouse=True, params=["starter", "pidfd", "threads", "popen"])
def launch_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs with each way of starting and following tasks: the task starter
    process (the default); started here by posix_spawn, followed by the epoll/pidfd watcher
    or by a thread per task; started here by Popen, followed by the watcher."""
    previous = _Mode.options
    _Mode.options = {
        "use_starter": request.param == "starter",
        "use_pidfd": request.param != "threads",
        "use_posix_spawn": request.param != "popen",
    }
    yield request.param
    _Mode.options = previous


class _Mode:
    options: dict[str, bool] = {}


def _launcher(grace: float = 2.0) -> ProcessLauncher:
    return ProcessLauncher(grace_period=grace, **_Mode.options)


def _log(tmp_path: Path, folder: str = "logs") -> RunLog:
    return RunLog(tmp_path / folder / "tasks.log")


def _read(tmp_path: Path, folder: str = "logs") -> str:
    return read_stream(tmp_path / folder / "tasks.log", STREAM)[0].decode()


@pytest.fixture(autouse=True)
def _no_strays() -> Iterator[None]:
    """Whatever a failing test leaves running is killed with its group."""
    yield
    while _started:
        _started.pop().kill()


def _start(
    tmp_path: Path, argv: list[str], *, grace: float = 2.0, env: dict[str, str] | None = None
) -> LocalProcess:
    process = _launcher(grace).start(
        argv,
        env=dict(os.environ) if env is None else env,
        cwd=tmp_path,
        output=_log(tmp_path).output(STREAM),
    )
    _started.append(process)
    return process


def _is_gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _recorded_pids(path: Path, count: int) -> list[int]:
    poll(lambda: path.exists() and len(path.read_text().split()) >= count)
    return [int(pid) for pid in path.read_text().split()]


def test_output_and_errors_are_appended_to_the_log(tmp_path: Path) -> None:
    script = "echo to-out; echo to-err >&2; pwd"
    first = _start(tmp_path, ["sh", "-c", script])
    assert first.wait(timeout=10) == 0
    assert _start(tmp_path, ["sh", "-c", "echo second; exit 3"]).wait(timeout=10) == 3

    log = _read(tmp_path).splitlines()
    assert log == ["to-out", "to-err", str(tmp_path), "second"]


def test_environment_is_the_one_given(tmp_path: Path) -> None:
    process = _launcher().start(
        ["/bin/sh", "-c", 'echo "$ONLY_THIS"; echo "${HOME:-unset}"'],
        env={"ONLY_THIS": "value"},
        cwd=tmp_path,
        output=_log(tmp_path).output(STREAM),
    )
    assert process.wait(timeout=10) == 0
    assert _read(tmp_path) == "value\nunset\n"


def test_wait_times_out_while_running_and_log_is_readable_meanwhile(tmp_path: Path) -> None:
    process = _start(tmp_path, ["sh", "-c", "echo ready; sleep 300"])
    poll(lambda: "ready\n" in _read(tmp_path))

    assert process.wait(timeout=0.2) is None  # the timeout ends the wait, not the task
    assert not _is_gone(process.pid)

    process.kill()
    assert process.wait(timeout=1) == -15


def test_kill_takes_down_every_grandchild(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    process = _start(tmp_path, ["sh", "-c", TREE_SCRIPT, "sh", str(pids_file)])
    pids = _recorded_pids(pids_file, 3)
    assert not any(_is_gone(pid) for pid in [process.pid, *pids])

    process.kill()

    assert process.wait(timeout=0) is not None
    poll(lambda: all(_is_gone(pid) for pid in [process.pid, *pids]), timeout=5)


def test_kill_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    script = "trap '' TERM\n" + TREE_SCRIPT
    process = _start(tmp_path, ["sh", "-c", script, "sh", str(pids_file)], grace=0.5)
    pids = _recorded_pids(pids_file, 3)

    process.kill()

    # SIGTERM was ignored, so only the escalation to SIGKILL can have ended it.
    assert process.wait(timeout=0) == -9
    poll(lambda: all(_is_gone(pid) for pid in pids), timeout=5)


def test_leftovers_are_killed_when_the_task_exits(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    script = 'sleep 300 & echo $! > "$1"; exit 0'
    process = _start(tmp_path, ["sh", "-c", script, "sh", str(pids_file)])

    assert process.wait(timeout=10) == 0
    (straggler,) = _recorded_pids(pids_file, 1)
    poll(lambda: _is_gone(straggler), timeout=5)


def test_kill_from_another_thread_ends_a_blocking_wait(tmp_path: Path) -> None:
    process = _start(tmp_path, ["sleep", "300"])
    codes: list[int | None] = []
    waiter = threading.Thread(target=lambda: codes.append(process.wait()))
    waiter.start()
    time.sleep(0.1)

    process.kill()
    waiter.join(timeout=5)

    assert not waiter.is_alive()
    assert codes == [-15]
    process.kill()  # idempotent


def _not_started(process: LocalProcess, reason: str) -> None:
    """The process could not start: it ended with code 127 and says why."""
    assert process.wait(timeout=10) == LAUNCH_FAILED_CODE
    assert process.launch_error is not None and reason in process.launch_error
    assert process.pid is None


def test_missing_program_ends_the_process_with_the_reason_in_the_log(tmp_path: Path) -> None:
    process = _start(tmp_path, ["/no/such/dir/no-such-program"])
    _not_started(process, "No such file or directory")
    assert "cannot start '/no/such/dir/no-such-program'" in process.launch_error
    assert "no-such-program" in _read(tmp_path)


def test_the_preamble_comes_first_in_the_log_even_when_the_program_cannot_start(
    tmp_path: Path,
) -> None:
    log = _log(tmp_path, "new-folder")
    launcher = _launcher()
    process = launcher.start(
        ["sh", "-c", "echo out"],
        env=dict(os.environ),
        cwd=tmp_path,
        output=log.output(STREAM),
        preamble=b"--- attempt 1 ---\n",
    )
    _started.append(process)
    assert process.wait(timeout=10) == 0
    failed = launcher.start(
        ["/no/such/program"],
        env={},
        cwd=tmp_path,
        output=log.output(STREAM),
        preamble=b"--- attempt 2 ---\n",
    )
    _not_started(failed, "/no/such/program")
    with pytest.raises(LaunchError, match="empty command"):
        launcher.start(
            [], env={}, cwd=tmp_path, output=log.output(STREAM), preamble=b"--- attempt 3 ---\n"
        )

    lines = _read(tmp_path, "new-folder").splitlines()
    assert lines[:3] == ["--- attempt 1 ---", "out", "--- attempt 2 ---"]
    assert "/no/such/program" in lines[3]
    assert lines[4:] == ["--- attempt 3 ---"]


def test_concurrent_tasks_keep_their_own_output_in_one_log(tmp_path: Path) -> None:
    """Many tasks writing at once into one run log: each stream reads back exactly its own
    lines, in order, including output larger than a pipe's buffer."""
    log = _log(tmp_path)
    launcher = _launcher()
    script = 'i=0; while [ $i -lt 2000 ]; do echo "$0 line $i"; i=$((i+1)); done'
    processes = []
    for number in range(8):
        process = launcher.start(
            ["sh", "-c", script, f"task{number}"],
            env=dict(os.environ),
            cwd=tmp_path,
            output=log.output(f"stream-{number}"),
        )
        _started.append(process)
        processes.append(process)
    assert [p.wait(timeout=30) for p in processes] == [0] * 8
    for number in range(8):
        data, _ = read_stream(tmp_path / "logs" / "tasks.log", f"stream-{number}")
        assert data.decode().splitlines() == [f"task{number} line {i}" for i in range(2000)]


def test_the_end_is_reported_to_callbacks_once_the_output_is_all_read(tmp_path: Path) -> None:
    process = _start(tmp_path, ["sh", "-c", "echo last words"])
    seen: list[tuple[int | None, str]] = []
    ended = threading.Event()

    def on_end(done: LocalProcess) -> None:
        seen.append((done.returncode, _read(tmp_path)))
        ended.set()

    process.on_end(on_end)
    assert ended.wait(10)
    assert seen == [(0, "last words\n")]
    late: list[int | None] = []
    process.on_end(lambda done: late.append(done.returncode))  # after the end: at once
    assert late == [0]


def _run_alone(tmp_path: Path, argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run ``argv`` to its end; its output."""
    process = _start(tmp_path, argv, env=env)
    assert process.wait(timeout=10) == 0
    return _read(tmp_path)


def test_a_task_gets_default_signal_handling_and_an_empty_stdin(tmp_path: Path) -> None:
    """The server ignores SIGPIPE (Python does): its tasks must not inherit that, or a
    pipeline's ``producer | head`` would go on writing into a closed pipe."""
    output = _run_alone(
        tmp_path, ["sh", "-c", "grep -E '^(SigIgn|SigBlk)' /proc/self/status; cat; echo end"]
    )
    masks = dict(line.split(":") for line in output.splitlines()[:2])
    for name in ("SigIgn", "SigBlk"):
        mask = int(masks[name].strip(), 16)
        assert not mask & (1 << (signal.SIGPIPE - 1)), name
        assert not mask & (1 << (signal.SIGXFSZ - 1)), name
    assert output.splitlines()[2:] == ["end"]  # cat read nothing from stdin


def test_no_descriptor_of_the_server_reaches_a_task(tmp_path: Path) -> None:
    leaked = os.open(tmp_path / "secret", os.O_CREAT | os.O_WRONLY)
    os.set_inheritable(leaked, True)  # even one marked inheritable
    try:
        output = _run_alone(tmp_path, ["sh", "-c", "ls /proc/$$/fd"])
    finally:
        os.close(leaked)
    assert sorted(int(fd) for fd in output.split()) == [0, 1, 2]


def test_the_program_is_looked_up_on_the_tasks_path_each_time_it_moves(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, word in ((first, "one"), (second, "two")):
        folder.mkdir()
        tool = folder / "tool"
        tool.write_text(f"#!/bin/sh\necho {word}\n")
        tool.chmod(0o755)
    env = {"PATH": f"{first}:{second}:/usr/bin:/bin"}
    assert _run_alone(tmp_path, ["tool"], env) == "one\n"
    (first / "tool").unlink()  # the file found before is gone: the next one on PATH runs
    assert _run_alone(tmp_path, ["tool"], env) == "one\ntwo\n"
    (second / "tool").unlink()
    _not_started(_start(tmp_path, ["tool"], env=env), "'tool'")


def test_a_missing_working_folder_is_named_in_the_error(tmp_path: Path) -> None:
    process = _launcher().start(
        ["true"], env=dict(os.environ), cwd=tmp_path / "gone", output=_log(tmp_path).output(STREAM)
    )
    _not_started(process, "cannot start 'true'")
    assert "gone" in _read(tmp_path)


def test_a_relative_path_folder_is_looked_up_from_each_tasks_folder(tmp_path: Path) -> None:
    env = {"PATH": "bin:/usr/bin:/bin"}
    for word in ("first", "second"):
        folder = tmp_path / word / "bin"
        folder.mkdir(parents=True)
        (folder / "tool").write_text(f"#!/bin/sh\necho {word}\n")
        (folder / "tool").chmod(0o755)
        process = _launcher().start(
            ["tool"], env=env, cwd=tmp_path / word, output=_log(tmp_path).output(STREAM)
        )
        _started.append(process)
        assert process.wait(timeout=10) == 0
    assert _read(tmp_path) == "first\nsecond\n"
