"""Start task processes, collect their output, and stop them, whole trees included.

Every task runs as the leader of a new session, so the task and everything it forks share one
process group that can be signalled at once. It is started with the C library's
``posix_spawn`` (see ``spawn``: the GIL is free while the kernel starts it), or with
``subprocess.Popen`` where that is missing. A task ends like a
container: when its main process exits, whatever it left running in its group is killed.
``kill()`` asks politely (SIGTERM to the group), waits a grace period, then SIGKILLs the group.

One **watcher thread** per launcher follows every running task: it waits on each leader's
pidfd and reads each task's stdout and stderr from a pipe, passing what it reads to the
task's output (the run's log, see ``domain.task_logs``). A thread blocked per task would cost
a wake-up, a lock hand-off and a few system calls more per task; one thread reading many
descriptors takes them as they come.

A leader's exit is seen while it is still an unreaped zombie: its pid cannot be reused
then, so signalling its process group can never hit an unrelated process. The watcher kills
the rest of the group, reaps the leader, takes what is left in the pipe and only then says the
task ended. Where the kernel offers no pidfd (or no epoll), a small thread per task waits for
the leader and another reads its pipe; the rest is the same.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from . import spawn

logger = logging.getLogger(__name__)

#: Seconds between SIGTERM and SIGKILL when a task is killed.
DEFAULT_GRACE_PERIOD = 2.0
_READ_SIZE = 1 << 16


class TaskOutput(Protocol):
    """Where a task's stdout and stderr go (``domain.task_logs.TaskOutput``)."""

    def write(self, data: bytes) -> None: ...


class TaskProcess(Protocol):
    pid: int

    @property
    def returncode(self) -> int | None:
        """The exit code once the task has ended (negative: killed by that signal)."""
        ...

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (negative: killed by that signal), or None if still running."""
        ...

    def on_end(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(process)`` once the task has ended (at once if it has)."""
        ...

    def terminate(self) -> None:
        """Ask the task's whole group to stop (SIGTERM); does not wait."""
        ...

    def force_kill(self) -> None:
        """Kill the task's whole group (SIGKILL); does not wait."""
        ...

    def kill(self) -> None:
        """Stop the process and everything it started; returns once they are gone."""
        ...


class Launcher(Protocol):
    grace_period: float

    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        output: TaskOutput,
        preamble: bytes = b"",
    ) -> TaskProcess:
        """Start ``argv``; ``preamble`` goes to the output first (even if it cannot start)."""
        ...


class LaunchError(RuntimeError):
    """The task's program could not be started (not found, not executable, bad cwd)."""


class ProcessLauncher:
    """Runs each task as a plain child process in a process group of its own."""

    def __init__(
        self,
        *,
        grace_period: float = DEFAULT_GRACE_PERIOD,
        use_pidfd: bool = True,
        use_posix_spawn: bool = True,
    ) -> None:
        self.grace_period = grace_period
        self._use_posix_spawn = use_posix_spawn and spawn.available()
        self._watcher: _Watcher | None = None
        self._watcher_lock = threading.Lock()
        self._use_pidfd = use_pidfd and _Watcher.supported()

    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        output: TaskOutput,
        preamble: bytes = b"",
    ) -> LocalProcess:
        if preamble:
            output.write(preamble)
        if not argv:
            raise LaunchError("empty command")
        read_end, write_end = os.pipe()
        try:
            try:
                pid, popen = self._spawn(argv, env, cwd, write_end)
            except OSError as exc:
                os.close(read_end)
                output.write(f"cannot start {argv[0]!r}: {exc}\n".encode())
                raise LaunchError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
        finally:
            os.close(write_end)
        process = LocalProcess(pid, read_end, output, grace_period=self.grace_period, popen=popen)
        if self._use_pidfd:
            try:
                self._watcher_for().watch(process)
                return process
            except OSError:  # no descriptor to spare for the pidfd: watch it the slow way
                logger.warning("cannot watch a task with a pidfd", extra={"pid": process.pid})
        process.watch_with_threads()
        return process

    def _spawn(
        self, argv: list[str], env: dict[str, str], cwd: Path, output: int
    ) -> tuple[int, subprocess.Popen[bytes] | None]:
        """Start the process, its stdout and stderr into ``output``: its pid, and the Popen
        object where Popen started it."""
        if self._use_posix_spawn:
            return spawn.spawn(argv, env=env, cwd=str(cwd), output=output), None
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        return popen.pid, popen

    def _watcher_for(self) -> _Watcher:
        watcher = self._watcher
        if watcher is None:
            with self._watcher_lock:
                if self._watcher is None:
                    self._watcher = _Watcher()
                watcher = self._watcher
        return watcher


class LocalProcess:
    """A started task: its leader process and, through it, its process group."""

    def __init__(
        self,
        pid: int,
        pipe: int,
        output: TaskOutput,
        *,
        grace_period: float,
        popen: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.pid = pid
        # Popen's object, where it started the process, learns the exit code from here, so
        # that it never reaps the process itself.
        self._popen = popen
        self._returncode: int | None = None
        self.grace_period = grace_period
        self._pipe: int | None = pipe
        self._output = output
        self._lock = threading.Lock()
        self._exited = threading.Event()  # the leader exited (maybe not reaped yet)
        self._ended = threading.Event()  # reaped, group killed, output all taken
        self._on_end: list[Callable[[LocalProcess], None]] = []
        self._reader: threading.Thread | None = None

    @property
    def returncode(self) -> int | None:
        return self._returncode if self._ended.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the task has ended (or ``timeout`` seconds pass): its main process
        exited, what it left behind in its group was killed, its output was all taken."""
        if not self._ended.wait(timeout):
            return None
        code = self._returncode
        assert code is not None
        return code

    def on_end(self, callback: Callable[[LocalProcess], None]) -> None:
        """Call ``callback(self)`` once the task has ended (at once if it has)."""
        with self._lock:
            if not self._ended.is_set():
                self._on_end.append(callback)
                return
        callback(self)

    def terminate(self) -> None:
        """SIGTERM the whole group (unless the task has ended)."""
        self._signal_group(signal.SIGTERM)

    def force_kill(self) -> None:
        """SIGKILL the whole group (unless the task has ended)."""
        self._signal_group(signal.SIGKILL)

    def kill(self) -> None:
        """SIGTERM the whole group, SIGKILL it after the grace period; returns once the task
        has ended."""
        if self._ended.is_set():
            return  # the group was killed when the leader exited
        self._signal_group(signal.SIGTERM)
        if not self._exited.wait(self.grace_period):
            logger.info("task did not stop on SIGTERM, killing it", extra={"pid": self.pid})
            self._signal_group(signal.SIGKILL)
        self._ended.wait()

    # --- called by whoever watches the process -----------------------------------------

    def read_output(self) -> bool:
        """Take what the pipe holds now; False once it is closed (all read)."""
        if self._pipe is None:
            return False
        data = self._read_chunk(self._pipe)
        if data:
            self._write(data)
        return data != b""

    @staticmethod
    def _read_chunk(pipe: int) -> bytes | None:
        """What the pipe holds now: None if nothing yet, b"" once it is closed."""
        try:
            return os.read(pipe, _READ_SIZE)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def has_exited(self) -> bool:
        """The leader has exited (it may still be an unreaped zombie)."""
        if self._returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def leader_exited(self) -> None:
        """The leader is a zombie: kill the rest of its group, reap it, take the output
        still in the pipe, and mark the task ended."""
        self._exited.set()
        with self._lock:
            if self._returncode is None:
                self._signal_group(signal.SIGKILL, locked=True)
                try:
                    _, status = os.waitpid(self.pid, 0)
                    self._returncode = os.waitstatus_to_exitcode(status)
                except ChildProcessError:  # reaped elsewhere: its code is lost
                    self._returncode = -signal.SIGKILL
                if self._popen is not None:
                    self._popen.returncode = self._returncode
        if self._reader is not None:
            # The reader thread owns the pipe; the group is dead, so it sees the end soon
            # (unless something that left the group still holds the pipe).
            self._reader.join(timeout=1.0)
        else:
            self._drain()
        with self._lock:
            self._ended.set()
            callbacks, self._on_end = self._on_end, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("a task-end callback failed", extra={"pid": self.pid})

    def _drain(self) -> None:
        """Read the pipe until nothing is left now; what a process outside the group still
        writes later is not waited for (the pipe is closed under it)."""
        pipe = self._pipe
        if pipe is None:
            return
        os.set_blocking(pipe, False)
        while data := self._read_chunk(pipe):
            self._write(data)
        self._pipe = None
        os.close(pipe)

    def _write(self, data: bytes) -> None:
        try:
            self._output.write(data)
        except OSError:
            logger.exception("could not write a task's output", extra={"pid": self.pid})

    def watch_with_threads(self) -> None:
        """Without pidfd and epoll: one thread reads the pipe, one waits for the leader."""
        pipe = self._pipe
        assert pipe is not None

        def read() -> None:
            while self.read_output():
                pass
            self._pipe = None
            os.close(pipe)

        def wait() -> None:
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
            self.leader_exited()

        self._reader = threading.Thread(target=read, name=f"task-{self.pid}-out", daemon=True)
        self._reader.start()
        threading.Thread(target=wait, name=f"task-{self.pid}-wait", daemon=True).start()

    def _signal_group(self, signum: int, *, locked: bool = False) -> None:
        """Signal the group while its leader is unreaped (so its id cannot be reused)."""
        if not locked:
            with self._lock:
                self._signal_group(signum, locked=True)
            return
        if self._returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)


class _Watcher:
    """The thread that follows every task of a launcher: leaders' pidfds and output pipes
    in one epoll set."""

    @staticmethod
    def supported() -> bool:
        return hasattr(select, "epoll") and hasattr(os, "pidfd_open")

    def __init__(self) -> None:
        self._epoll = select.epoll()
        # fd -> (process, is the pidfd). Filled before the fd is registered.
        self._fds: dict[int, tuple[LocalProcess, bool]] = {}
        self._thread = threading.Thread(target=self._loop, name="headrace-tasks", daemon=True)
        self._thread.start()

    def watch(self, process: LocalProcess) -> None:
        pipe = process._pipe
        assert pipe is not None
        pidfd = os.pidfd_open(process.pid)
        try:
            os.set_blocking(pipe, False)
            self._fds[pipe] = (process, False)
            self._fds[pidfd] = (process, True)
            # epoll_ctl may be called while the watcher waits: the new fds count at once.
            self._epoll.register(pipe, select.EPOLLIN)
            self._epoll.register(pidfd, select.EPOLLIN)
        except OSError:  # left as it was, for the caller to watch another way
            self._forget(pipe)
            self._forget(pidfd)
            os.close(pidfd)
            os.set_blocking(pipe, True)
            raise

    def _loop(self) -> None:
        while True:
            try:
                events = self._epoll.poll()
            except InterruptedError:
                continue
            for fd, _ in events:
                entry = self._fds.get(fd)
                if entry is None:
                    continue
                process, is_pidfd = entry
                try:
                    if is_pidfd:
                        if not process.has_exited():
                            continue  # an event for a closed pidfd whose number was reused
                        self._forget(fd)
                        os.close(fd)
                        pipe = process._pipe
                        if pipe is not None:
                            self._forget(pipe)
                        process.leader_exited()
                    elif not process.read_output():
                        self._forget(fd)
                except Exception:  # keep watching the other tasks
                    logger.exception("task watcher failed on a process", extra={"pid": process.pid})

    def _forget(self, fd: int) -> None:
        self._fds.pop(fd, None)
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)
