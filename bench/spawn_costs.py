"""What a task start costs on this machine, one ingredient at a time (no server).

The fan-out figure compares the engine with ``spawn_parallel`` in ``bench_engine.py``:
1,000 ``sh -c '"$@"' <item> true`` from 16 threads with ``subprocess.run``. The engine's
worker does more per task than that: a folder per task and per attempt, a log file, a new
session, a pidfd wait. This script adds those one at a time to the raw spawn (16 threads,
``--count`` tasks), then times the bare filesystem operations single-threaded, printing wall
time and this process's user and system CPU for each::

    .venv/bin/python bench/spawn_costs.py --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ENV = {"PATH": os.environ.get("PATH", os.defpath), "HOME": "/tmp"}
LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def _argv(item: int) -> list[str]:
    return ["sh", "-c", '"$@"', str(item), "true"]


def raw(root: Path, item: int) -> None:
    subprocess.run(_argv(item), check=True)


def with_session(root: Path, item: int) -> None:
    subprocess.run(_argv(item), env=ENV, start_new_session=True, check=True)


def with_folder(root: Path, item: int) -> None:
    folder = root / str(item)
    os.mkdir(folder)
    subprocess.run(_argv(item), env=ENV, cwd=folder, start_new_session=True, check=True)


def _start_logged(root: Path, item: int) -> subprocess.Popen[bytes]:
    """A new folder as cwd, a new log file there as stdout/stderr, a new session."""
    folder = root / str(item)
    os.mkdir(folder)
    log = os.open(folder / "task.log", LOG_FLAGS, 0o666)
    try:
        return subprocess.Popen(
            _argv(item),
            env=ENV,
            cwd=folder,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        os.close(log)


def with_log(root: Path, item: int) -> None:
    _start_logged(root, item).wait()


def like_the_launcher(root: Path, item: int) -> None:
    """Folder, log, session, then the launcher's wait: pidfd, waitid(WNOWAIT), killpg."""
    process = _start_logged(root, item)
    pidfd = os.pidfd_open(process.pid)
    try:
        while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.poll(None)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        os.close(pidfd)


def make_folder(root: Path, item: int) -> None:
    os.mkdir(root / str(item))


def create_file(root: Path, item: int) -> None:
    os.close(os.open(root / str(item), LOG_FLAGS, 0o666))


def create_and_remove_file(root: Path, item: int) -> None:
    path = root / str(item)
    os.close(os.open(path, LOG_FLAGS, 0o666))
    os.unlink(path)


def append_to_one_file(root: Path, item: int) -> None:
    fd = os.open(root / "one", LOG_FLAGS, 0o666)
    try:
        os.write(fd, b"12345 678901\n")
    finally:
        os.close(fd)


def measure(name: str, step: Callable[[Path, int], None], count: int, threads: int) -> None:
    with tempfile.TemporaryDirectory(prefix="headrace-spawn-costs-") as tmp:
        root = Path(tmp)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda item: step(root, item), range(count)))
        else:
            for item in range(count):
                step(root, item)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"{name:44s} {wall:6.2f} s wall  {after.ru_utime - before.ru_utime:5.2f} s user"
        f"  {after.ru_stime - before.ru_stime:5.2f} s sys",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="tasks / operations per line")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    spawns = [
        ("raw spawn (the fan-out baseline)", raw),
        ("+ env, new session", with_session),
        ("+ a new folder as cwd", with_folder),
        ("+ a new log file as stdout/stderr", with_log),
        ("+ pidfd wait, waitid(WNOWAIT), killpg", like_the_launcher),
    ]
    files = [
        ("mkdir", make_folder),
        ("create a file", create_file),
        ("create and remove a file", create_and_remove_file),
        ("append a line to one file", append_to_one_file),
    ]
    for round_ in range(1, args.rounds + 1):
        print(f"-- round {round_}: {args.count} tasks, 16 threads")
        for name, step in spawns:
            measure(name, step, args.count, 16)
        print(f"-- round {round_}: {args.count} operations, one thread")
        for name, step in files:
            measure(name, step, args.count, 1)


if __name__ == "__main__":
    main()
