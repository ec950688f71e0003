"""The task starter: a small process of its own that starts task processes for the server,
watches them and reaps them.

Why a process: starting a program keeps the starting thread waiting until the kernel has
exec'd it (half a millisecond here, more while other tasks run). In the server that is the
engine's control thread, and no other of its threads can take over the work without
fighting it for the GIL. A separate process has its own interpreter: the server hands it a
start request and goes on with the next task while the starter waits for the kernel.

The starter runs this file as a script (``python -I starter.py``); it imports nothing of the
project but ``spawn``, so it starts in milliseconds and stays small. It talks to the server
over one ``SOCK_SEQPACKET`` socket, in ``marshal``-encoded messages:

* server -> starter: ``(START, token, argv, env, cwd, pid_list)`` with the write end of the
  task's output pipe attached (``SCM_RIGHTS``); ``(SIGNAL, token, signum)``.
* starter -> server, several per message: ``(STARTED, token, pid)``,
  ``(FAILED, token, errno, filename, message)``, ``(ENDED, token, exit code)``.

The task's output pipe goes from the task to the server directly; the starter only passes
its write end on. When a task's main process exits, the starter kills what it left in its
process group, reaps it and says ENDED: a group is only ever signalled while its leader is
an unreaped zombie, so its id cannot have been reused. Each started pid is appended to the
run's pid list (``pid_list``) for the next server, should this one crash.

When the server goes away (its end of the socket closes: it stopped, or was killed), the
starter kills every task it started and exits: nothing runs on without a server.
"""

from __future__ import annotations

import array
import contextlib
import marshal
import os
import select
import signal
import socket
import sys
from typing import Any

if __package__:
    from . import spawn as _spawn
else:  # run as a script (python -I): the sibling module, with nothing of the project around
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import spawn as _spawn  # type: ignore[no-redef]

START, SIGNAL, STARTED, FAILED, ENDED = range(5)
# A message carries at most this many bytes (argv and environment of one task).
MAX_MESSAGE = 1 << 20
_FD_SPACE = socket.CMSG_SPACE(4)  # one descriptor per request
_RECEIVE_FLAGS = socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC


def available() -> bool:
    """This system can run the starter (posix_spawn with what a task needs, pidfds, epoll,
    descriptor passing)."""
    return (
        _spawn.available()
        and hasattr(os, "pidfd_open")
        and hasattr(select, "epoll")
        and hasattr(socket, "send_fds")
        and hasattr(socket, "SOCK_SEQPACKET")
    )


class _Starter:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.epoll = select.epoll()
        self.epoll.register(sock.fileno(), select.EPOLLIN)
        self.tasks: dict[int, tuple[int, int]] = {}  # pidfd -> (token, pid)
        self.pidfds: dict[int, int] = {}  # token -> pidfd, while the leader is unreaped
        self.replies: list[tuple[Any, ...]] = []

    def serve(self) -> None:
        """Take requests and report ends until the server goes (the caller then kills
        what still runs, see :meth:`kill_all`)."""
        sock_fd = self.sock.fileno()
        while True:
            try:
                events = self.epoll.poll()
            except InterruptedError:
                continue
            for fd, _ in events:
                if fd == sock_fd:
                    if not self._requests():
                        return
                else:
                    self._ended(fd)
            if self.replies:
                replies, self.replies = self.replies, []
                try:
                    self.sock.send(marshal.dumps(replies))
                except OSError:  # the server has gone
                    return

    def _requests(self) -> bool:
        """Take every request waiting; False once the server has gone."""
        while True:
            try:
                # (socket.recv_fds of Python 3.11 drops its flags argument.)
                data, ancillary, _, _ = self.sock.recvmsg(MAX_MESSAGE, _FD_SPACE, _RECEIVE_FLAGS)
            except BlockingIOError:
                return True
            except ConnectionError:
                return False
            fds = [
                fd
                for level, kind, payload in ancillary
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
                for fd in array.array("i", payload[: len(payload) - len(payload) % 4])
            ]
            if not data:
                for fd in fds:
                    os.close(fd)
                return False
            message = marshal.loads(data)
            if message[0] == START:
                self._start(message, fds[0] if fds else -1)
            elif message[0] == SIGNAL:
                self._signal(message[1], message[2])

    def _start(self, message: tuple[Any, ...], output: int) -> None:
        _, token, argv, env, cwd, pid_list = message
        try:
            pid = _spawn.spawn(argv, env=env, cwd=cwd, output=output)
        except OSError as exc:
            self.replies.append((FAILED, token, exc.errno or 0, exc.filename, exc.strerror))
            return
        finally:
            if output >= 0:
                os.close(output)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:  # out of descriptors: a task it cannot watch must not run
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.replies.append((FAILED, token, exc.errno or 0, None, exc.strerror))
            return
        self.tasks[pidfd] = (token, pid)
        self.pidfds[token] = pidfd
        self.epoll.register(pidfd, select.EPOLLIN)
        if pid_list:
            _spawn.record_pid(pid_list, pid)
        self.replies.append((STARTED, token, pid))

    def _signal(self, token: int, signum: int) -> None:
        pidfd = self.pidfds.get(token)
        if pidfd is not None:  # else it has ended: its group was killed then
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.tasks[pidfd][1], signum)

    def _ended(self, pidfd: int) -> None:
        """The task's main process exited: kill the rest of its group, reap it."""
        token, pid = self.tasks.pop(pidfd)
        del self.pidfds[token]
        self.epoll.unregister(pidfd)
        os.close(pidfd)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        try:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = -signal.SIGKILL
        self.replies.append((ENDED, token, code))

    def kill_all(self) -> None:
        """Kill every task still running (with its group) and reap it."""
        pids = [pid for _, pid in self.tasks.values()]
        self.tasks.clear()
        self.pidfds.clear()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    # The server's exit closes the socket; until then, signals meant for the server's
    # terminal (Ctrl-C) are the server's to handle, not the starter's.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    starter = _Starter(sock)
    # Stopped on its own (SIGTERM): its tasks go with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        starter.serve()
    finally:
        starter.kill_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
