"""Start task processes and stop them, whole trees included.

Every task runs as the leader of a new session (``start_new_session=True``), so the task and
everything it forks share one process group that can be signalled at once. A task ends like a
container: when its main process exits, whatever it left running in its group is killed.
``kill()`` asks politely (SIGTERM to the group), waits a grace period, then SIGKILLs the group.

The leader's exit is observed with ``waitid(WNOWAIT)`` before it is reaped: while the leader
is an unreaped zombie its pid cannot be reused, so signalling its process group can never hit
an unrelated process. Waiting uses a pidfd where the kernel offers one (no polling).

stdout and stderr go, unbuffered by us, to the task's log file opened for appending, so the
log can be read (and served) while the task runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import threading
import time
import weakref
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

#: Seconds between SIGTERM and SIGKILL when a task is killed.
DEFAULT_GRACE_PERIOD = 2.0


class TaskProcess(Protocol):
    pid: int

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (negative: killed by that signal), or None if still running."""
        ...

    def kill(self) -> None:
        """Stop the process and everything it started; returns once they are gone."""
        ...


class Launcher(Protocol):
    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        preamble: bytes = b"",
    ) -> TaskProcess:
        """Start ``argv``; ``preamble`` goes into the log first (even if it cannot start)."""
        ...


class LaunchError(RuntimeError):
    """The task's program could not be started (not found, not executable, bad cwd)."""


class ProcessLauncher:
    """Runs each task as a plain child process in a process group of its own."""

    def __init__(self, *, grace_period: float = DEFAULT_GRACE_PERIOD) -> None:
        self.grace_period = grace_period

    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        preamble: bytes = b"",
    ) -> LocalProcess:
        # One descriptor for the preamble and the process's output: no file object.
        log = _open_log(log_path)
        try:
            _write_all(log, preamble)
            if not argv:
                raise LaunchError("empty command")
            try:
                popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                _write_all(log, f"cannot start {argv[0]!r}: {exc}\n".encode())
                raise LaunchError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
        finally:
            os.close(log)
        logger.debug("task process started", extra={"pid": popen.pid, "argv0": argv[0]})
        return LocalProcess(popen, grace_period=self.grace_period)


def _open_log(path: Path) -> int:
    """The log file opened for appending (created, with its folder, if missing)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o666)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class LocalProcess:
    """A started task: its leader process and, through it, its process group."""

    def __init__(self, popen: subprocess.Popen[bytes], *, grace_period: float) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.grace_period = grace_period
        self._lock = threading.Lock()
        self._pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self._pidfd = os.pidfd_open(self.pid)
            # Closed with the object, not on reap: another thread may still be polling it.
            weakref.finalize(self, os.close, self._pidfd)

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the task's main process exits (or ``timeout`` seconds pass); on exit,
        kill what it left behind in its group, reap it and return its exit code."""
        if self._popen.returncode is not None:
            return self._popen.returncode
        if not self._await_exit(timeout):
            return None
        return self._finish()

    def kill(self) -> None:
        """SIGTERM the whole group, SIGKILL it after the grace period, reap the leader."""
        if self._popen.returncode is not None:
            self._signal_group(signal.SIGKILL)  # stragglers of an exited leader
            return
        self._signal_group(signal.SIGTERM)
        if not self._await_exit(self.grace_period):
            logger.info("task did not stop on SIGTERM, killing it", extra={"pid": self.pid})
        self._finish()

    def _await_exit(self, timeout: float | None) -> bool:
        """True once the leader has exited; it stays unreaped (a zombie) until _finish."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while True:
            if self._has_exited():
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if self._pidfd is not None:
                poller = select.poll()
                poller.register(self._pidfd, select.POLLIN)
                poller.poll(None if remaining is None else max(1, int(remaining * 1000)))
            else:
                time.sleep(delay if remaining is None else min(delay, remaining))
                delay = min(delay * 2, 0.05)

    def _has_exited(self) -> bool:
        if self._popen.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True  # already reaped elsewhere
        return info is not None

    def _finish(self) -> int:
        """Kill the group's remaining members (the leader is a zombie, so the group id is
        still ours), then reap the leader."""
        with self._lock:
            if self._popen.returncode is None:
                self._signal_group(signal.SIGKILL)
                self._popen.wait()
        code = self._popen.returncode
        assert code is not None
        return code

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)
