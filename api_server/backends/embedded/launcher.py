"""Start task processes, collect their output, and stop them, whole trees included.

Every task runs as the leader of a new session, so the task and everything it forks share one
process group that can be signalled at once. A task ends like a container: when its main
process exits, whatever it left running in its group is killed. ``kill()`` asks politely
(SIGTERM to the group), waits a grace period, then SIGKILLs the group.

**Who starts the processes.** By default a small process of its own, the task starter
(``starter``): starting a program keeps the starting thread waiting until the kernel has
exec'd it, and the starter waits instead of the engine's control thread. It also watches and
reaps the tasks it started, and says when each has ended. Where the starter cannot run, the
server starts tasks itself with the C library's ``posix_spawn`` (``spawn``: the GIL is free
while the kernel starts it), or with ``subprocess.Popen`` where that is missing.

One **watcher thread** per launcher follows every running task: it reads each task's stdout
and stderr from a pipe, passing what it reads to the task's output (the run's log, see
``domain.task_logs``), and takes the starter's messages (or, without a starter, waits on each
leader's pidfd). A thread blocked per task would cost a wake-up, a lock hand-off and a few
system calls more per task; one thread reading many descriptors takes them as they come.

A leader's exit is seen while it is still an unreaped zombie: its pid cannot be reused
then, so signalling its process group can never hit an unrelated process. The rest of the
group is killed, the leader reaped, what is left in the pipe taken, and only then is the task
said to have ended. Where the kernel offers no pidfd (or no epoll), a small thread per task
waits for the leader and another reads its pipe; the rest is the same.

A task that cannot start (no such program, no such folder) still yields a process: one that
has ended, with exit code 127 and ``launch_error`` saying why (a starter only learns it after
the request has left).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from . import spawn, starter

logger = logging.getLogger(__name__)

#: Seconds between SIGTERM and SIGKILL when a task is killed.
DEFAULT_GRACE_PERIOD = 2.0
_READ_SIZE = 1 << 16
#: The exit code of a task that could not start (as a shell gives for a missing command).
LAUNCH_FAILED_CODE = 127


class TaskOutput(Protocol):
    """Where a task's stdout and stderr go (``domain.task_logs.TaskOutput``)."""

    def write(self, data: bytes) -> None: ...


class TaskProcess(Protocol):
    pid: int | None  # None until it has started (and if it never does)
    launch_error: str | None  # why it could not start, once it is known

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
        pid_list: Path | None = None,
    ) -> TaskProcess:
        """Start ``argv``; ``preamble`` goes to the output first (even if it cannot start).
        The task's pid is appended to ``pid_list`` once it has started."""
        ...

    def close(self) -> None:
        """Let go of what starting tasks needed (no task runs any more)."""
        ...


class _Task(NamedTuple):
    """What to start, and where its output and pid go."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    output: TaskOutput
    pid_list: Path | None


class LaunchError(RuntimeError):
    """The task cannot be started at all (an empty command, no descriptor left)."""


class ProcessLauncher:
    """Runs each task as a process in a process group of its own: started by the task
    starter, or by this process where the starter cannot run."""

    def __init__(
        self,
        *,
        grace_period: float = DEFAULT_GRACE_PERIOD,
        use_pidfd: bool = True,
        use_posix_spawn: bool = True,
        use_starter: bool = True,
    ) -> None:
        self.grace_period = grace_period
        self._watcher: _Watcher | None = None
        self._watcher_lock = threading.Lock()
        self._use_pidfd = use_pidfd and _Watcher.supported()
        self._use_posix_spawn = use_posix_spawn and spawn.available()
        self._use_starter = use_starter and self._use_pidfd and starter.available()

    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        output: TaskOutput,
        preamble: bytes = b"",
        pid_list: Path | None = None,
    ) -> LocalProcess:
        if preamble:
            output.write(preamble)
        if not argv:
            raise LaunchError("empty command")
        try:
            read_end, write_end = os.pipe()
        except OSError as exc:
            raise LaunchError(f"cannot start {argv[0]!r}: {exc}") from exc
        task = _Task(argv, env, cwd, output, pid_list)
        try:
            if self._use_starter:
                return self._watcher_for().start(task, read_end, write_end, self.grace_period)
            return self._start_here(task, read_end, write_end)
        except LaunchError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)

    def _start_here(self, task: _Task, read_end: int, write_end: int) -> LocalProcess:
        """Start the task from this process, and follow it with the watcher (or threads)."""
        try:
            pid, popen = self._spawn(task, write_end)
        except OSError as exc:
            os.close(read_end)
            return LocalProcess.not_started(task.argv[0], exc, task.output)
        if task.pid_list is not None:
            spawn.record_pid(str(task.pid_list), pid)
        process = LocalProcess(
            pid, read_end, task.output, task.argv[0], grace_period=self.grace_period, popen=popen
        )
        if self._use_pidfd:
            try:
                self._watcher_for().watch(process)
                return process
            except OSError:  # no descriptor to spare for the pidfd: watch it the slow way
                logger.warning("cannot watch a task with a pidfd", extra={"pid": process.pid})
        process.watch_with_threads()
        return process

    def close(self) -> None:
        """Stop the starters (each kills what it still runs) and the watcher thread. Call it
        once no task runs any more (after ``kill()``ing them)."""
        with self._watcher_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()

    def _spawn(self, task: _Task, output: int) -> tuple[int, subprocess.Popen[bytes] | None]:
        """Start the process here, its stdout and stderr into ``output``: its pid, and the
        Popen object where Popen started it."""
        if self._use_posix_spawn:
            return spawn.spawn(task.argv, env=task.env, cwd=str(task.cwd), output=output), None
        popen = subprocess.Popen(
            task.argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=task.cwd,
            env=task.env,
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
        pid: int | None,
        pipe: int | None,
        output: TaskOutput,
        program: str,
        *,
        grace_period: float,
        popen: subprocess.Popen[bytes] | None = None,
        starter: _StarterLink | None = None,
        token: int = 0,
    ) -> None:
        self.pid = pid
        self.program = program  # what it runs (argv[0])
        self.launch_error: str | None = None
        # Popen's object, where it started the process, learns the exit code from here, so
        # that it never reaps the process itself.
        self._popen = popen
        # Where the starter started it (as its request ``token``): signals go through the
        # starter, which knows whether the leader is still unreaped.
        self._starter = starter
        self.token = token
        self._returncode: int | None = None
        self.grace_period = grace_period
        self._pipe: int | None = pipe
        self._output = output
        self._lock = threading.Lock()
        self._exited = threading.Event()  # the leader exited (maybe not reaped yet)
        self._ended = threading.Event()  # reaped, group killed, output all taken
        self._on_end: list[Callable[[LocalProcess], None]] = []
        self._reader: threading.Thread | None = None

    @classmethod
    def not_started(cls, program: str, exc: OSError, output: TaskOutput) -> LocalProcess:
        """A task that could not start: ended already, with the reason in its log."""
        process = cls(None, None, output, program, grace_period=0)
        process.failed_to_start(exc)
        return process

    def failed_to_start(self, exc: OSError) -> None:
        self.launch_error = f"cannot start {self.program!r}: {exc.strerror or exc}"
        self._write(f"cannot start {self.program!r}: {exc}\n".encode())
        self.ended(LAUNCH_FAILED_CODE)

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
        assert self.pid is not None  # a process this server started
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def leader_exited(self) -> None:
        """The leader is a zombie: kill the rest of its group, reap it, take the output
        still in the pipe, and mark the task ended."""
        code = -signal.SIGKILL
        with self._lock:
            if self._returncode is None:
                self._signal_group(signal.SIGKILL, locked=True)
                assert self.pid is not None
                with contextlib.suppress(ChildProcessError):  # else reaped elsewhere: lost
                    code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        self.ended(code)

    def ended(self, code: int) -> None:
        """The leader was reaped (its group killed) with this exit code: take the output
        still in the pipe, and mark the task ended."""
        with self._lock:
            self._returncode = code
            if self._popen is not None:
                self._popen.returncode = code
        self._exited.set()
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
        pipe, pid = self._pipe, self.pid
        assert pipe is not None and pid is not None  # a process this server started

        def read() -> None:
            while self.read_output():
                pass
            self._pipe = None
            os.close(pipe)

        def wait() -> None:
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            self.leader_exited()

        self._reader = threading.Thread(target=read, name=f"task-{self.pid}-out", daemon=True)
        self._reader.start()
        threading.Thread(target=wait, name=f"task-{self.pid}-wait", daemon=True).start()

    def _signal_group(self, signum: int, *, locked: bool = False) -> None:
        """Signal the group while its leader is unreaped (so its id cannot be reused)."""
        if self._starter is not None:
            # The starter signals only a group whose leader it has not reaped. Not under
            # the lock: a send can wait for the starter, which may wait for the watcher,
            # which takes the lock to end a task.
            if self._returncode is None:
                self._starter.signal(self, signum)
            return
        if not locked:
            with self._lock:
                self._signal_group(signum, locked=True)
            return
        if self._returncode is not None:
            return
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)


_PIPE, _PIDFD, _STARTER, _CLOSE = range(4)
_STARTERS = 2


class _Watcher:
    """The thread that follows every task of a launcher: output pipes, and the starter's
    socket or the leaders' pidfds, in one epoll set."""

    @staticmethod
    def supported() -> bool:
        return hasattr(select, "epoll") and hasattr(os, "pidfd_open")

    def __init__(self) -> None:
        self._epoll = select.epoll()
        # fd -> (what it is, its process or starter link). Filled before it is registered.
        self._fds: dict[int, tuple[int, Any]] = {}
        self._starters: list[_StarterLink | None] = [None] * _STARTERS
        self._turns = itertools.count()
        self._starter_lock = threading.Lock()
        self._woken, self._wake = os.pipe()  # a byte in it stops the watcher
        self._register(self._woken, _CLOSE, None)
        self._thread = threading.Thread(target=self._loop, name="headrace-tasks", daemon=True)
        self._thread.start()

    def watch(self, process: LocalProcess) -> None:
        """Follow a process this server started: its pipe and its leader's pidfd."""
        assert process.pid is not None
        pidfd = os.pidfd_open(process.pid)
        try:
            self._watch_pipe(process)
            self._register(pidfd, _PIDFD, process)
        except OSError:  # left as it was, for the caller to watch another way
            if process._pipe is not None:
                self._forget(process._pipe)
                os.set_blocking(process._pipe, True)
            self._forget(pidfd)
            os.close(pidfd)
            raise

    def start(
        self, task: _Task, read_end: int, write_end: int, grace_period: float
    ) -> LocalProcess:
        """Have the starter start a task; its output comes through ``read_end``."""
        link = self._starter_link()
        token, request = link.request(task)
        process = LocalProcess(
            None,
            read_end,
            task.output,
            task.argv[0],
            grace_period=grace_period,
            starter=link,
            token=token,
        )
        self._watch_pipe(process)
        link.start(process, request, write_end)
        return process

    def _starter_link(self) -> _StarterLink:
        """The next starter, in turn (each waits for the kernel on its own)."""
        with self._starter_lock:
            index = next(self._turns) % _STARTERS
            link = self._starters[index]
            if link is None or link.closed:
                link = self._starters[index] = _StarterLink()
                self._register(link.fileno, _STARTER, link)
        return link

    def _watch_pipe(self, process: LocalProcess) -> None:
        pipe = process._pipe
        assert pipe is not None
        os.set_blocking(pipe, False)
        self._register(pipe, _PIPE, process)

    def _register(self, fd: int, kind: int, owner: Any) -> None:
        self._fds[fd] = (kind, owner)
        # epoll_ctl may be called while the watcher waits: the new fd counts at once.
        self._epoll.register(fd, select.EPOLLIN)

    def close(self) -> None:
        with self._starter_lock:
            links, self._starters = self._starters, [None] * _STARTERS
        for link in links:
            if link is not None:
                self._forget(link.fileno)
                link.close()
        os.write(self._wake, b"x")  # the watcher thread stops
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        try:
            self._watch()
        finally:
            for fd in (self._wake, self._woken):
                os.close(fd)
            self._epoll.close()

    def _watch(self) -> None:
        while True:
            try:
                events = self._epoll.poll()
            except InterruptedError:
                continue
            for fd, _ in events:
                entry = self._fds.get(fd)
                if entry is None:
                    continue
                kind, owner = entry
                if kind == _CLOSE:
                    return
                try:
                    if kind == _PIPE:
                        if not owner.read_output():
                            self._forget(fd)
                    elif kind == _PIDFD:
                        if not owner.has_exited():
                            continue  # an event for a closed pidfd whose number was reused
                        self._forget(fd)
                        os.close(fd)
                        self._forget_pipe(owner)
                        owner.leader_exited()
                    else:
                        self._from_starter(owner)
                except Exception:  # keep watching the other tasks
                    logger.exception("task watcher failed", extra={"fd": fd})

    def _from_starter(self, link: _StarterLink) -> None:
        for message in link.receive():
            kind, token = message[0], message[1]
            process = link.processes.get(token)
            if process is None:
                continue
            if kind == starter.STARTED:
                process.pid = message[2]
                continue
            del link.processes[token]
            self._forget_pipe(process)
            if kind == starter.ENDED:
                process.ended(message[2])
            else:
                _, _, number, filename, text = message
                process.failed_to_start(OSError(number, text, filename))
        if link.closed:
            self._forget(link.fileno)
            self._starter_gone(link)

    def _starter_gone(self, link: _StarterLink) -> None:
        """The starter stopped. One that exited on its own killed its tasks; one that was
        killed could not, so their groups are killed here. Either way they end now, killed,
        and the next start launches a new starter."""
        link.close()
        clean = link.process.returncode == 0
        logger.error(
            "the task starter stopped",
            extra={"tasks": len(link.processes), "exit_code": link.process.returncode},
        )
        processes, link.processes = link.processes, {}
        for process in processes.values():
            if process.pid is not None and not clean:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
            self._forget_pipe(process)
            process.ended(-signal.SIGKILL)

    def _forget_pipe(self, process: LocalProcess) -> None:
        if process._pipe is not None:
            self._forget(process._pipe)

    def _forget(self, fd: int) -> None:
        self._fds.pop(fd, None)
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)


class _StarterLink:
    """The server's end of the task starter: its process and socket, and the tasks it was
    asked to start that have not ended, by token."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        script = Path(starter.__file__)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(script), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.fileno = ours.fileno()
        self.closed = False
        self.processes: dict[int, LocalProcess] = {}
        self._tokens = itertools.count(1)
        self._send_lock = threading.Lock()

    def request(self, task: _Task) -> tuple[int, bytes]:
        """A start request for the starter, and its token."""
        token = next(self._tokens)
        pid_list = str(task.pid_list or "")
        request = marshal.dumps(
            (starter.START, token, task.argv, task.env, str(task.cwd), pid_list)
        )
        if len(request) > starter.MAX_MESSAGE:
            raise LaunchError(
                f"cannot start {task.argv[0]!r}: its command and environment take {len(request)}"
                f" bytes, more than the {starter.MAX_MESSAGE} a task may have"
            )
        return token, request

    def start(self, process: LocalProcess, request: bytes, write_end: int) -> None:
        self.processes[process.token] = process
        self._send(request, [write_end])

    def signal(self, process: LocalProcess, signum: int) -> None:
        self._send(marshal.dumps((starter.SIGNAL, process.token, int(signum))), [])

    def _send(self, data: bytes, fds: list[int]) -> None:
        with self._send_lock:
            try:
                socket.send_fds(self.sock, [data], fds)
            except OSError:
                # The starter has gone: the watcher hears it too and ends its tasks.
                logger.warning("the task starter is not running")

    def close(self) -> None:
        """Let the starter go (it kills what it still runs) and reap it."""
        self.closed = True
        self.sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def receive(self) -> list[tuple[Any, ...]]:
        """Every message waiting from the starter (each holds several)."""
        messages: list[tuple[Any, ...]] = []
        while True:
            try:
                data = self.sock.recv(starter.MAX_MESSAGE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return messages
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return messages
            messages.extend(marshal.loads(data))
