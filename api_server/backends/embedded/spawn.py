"""Start a task's process with the C library's ``posix_spawn``, called through ctypes.

Why not ``subprocess.Popen``: a spawn suspends the calling thread until the child has
exec'd (vfork semantics), about half a millisecond here, and CPython 3.11 keeps the GIL
for all of it, so no other thread of the server runs meanwhile. A ctypes call releases the
GIL, and this path also skips Popen's own bookkeeping (its error pipe, its object):
spawning 1,000 tasks 16 at a time costs the parent about half the CPU of Popen.

Everything Popen did for a task is asked of ``posix_spawn`` itself:

* a new session (``POSIX_SPAWN_SETSID``): the task leads a process group of its own;
* stdin from ``/dev/null``, stdout and stderr into the pipe the launcher reads;
* the working directory (``posix_spawn_file_actions_addchdir_np``, glibc 2.29);
* every other descriptor closed (``..._addclosefrom_np``, glibc 2.34; where it is missing,
  descriptors are close-on-exec anyway, which is Python's default);
* SIGPIPE and SIGXFSZ back to their defaults (Python ignores SIGPIPE, and an ignored
  signal stays ignored across exec) and an empty signal mask;
* the program looked up on the task's own ``PATH`` (as Popen does with ``env=``).

:func:`available` says whether this C library offers all of it; the launcher falls back to
Popen where it does not (musl, macOS).
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from collections.abc import Mapping, Sequence

_POSIX_SPAWN_SETSIGMASK = 0x08
_POSIX_SPAWN_SETSIGDEF = 0x04
_POSIX_SPAWN_SETSID = 0x80  # glibc's value (2.26 and later)
# Opaque C structures, given more room than any glibc needs (80, 336 and 128 bytes on
# x86_64 and aarch64).
_FILE_ACTIONS_SIZE = 256
_ATTR_SIZE = 1024
_SIGSET_SIZE = 256

_c_array = ctypes.c_char_p


def _load() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        for name in (
            "posix_spawn",
            "posix_spawn_file_actions_init",
            "posix_spawn_file_actions_destroy",
            "posix_spawn_file_actions_addopen",
            "posix_spawn_file_actions_adddup2",
            "posix_spawn_file_actions_addchdir_np",
            "posix_spawnattr_init",
            "posix_spawnattr_destroy",
            "posix_spawnattr_setflags",
            "posix_spawnattr_setsigmask",
            "posix_spawnattr_setsigdefault",
            "sigemptyset",
            "sigaddset",
        ):
            getattr(libc, name)
    except (OSError, AttributeError):
        return None
    if os.uname().sysname != "Linux":  # the flag values above are glibc's
        return None
    libc.posix_spawn.argtypes = [
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_char_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_char_p),
    ]
    libc.posix_spawn_file_actions_addopen.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint,
    ]
    libc.posix_spawn_file_actions_adddup2.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    libc.posix_spawn_file_actions_addchdir_np.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    libc.posix_spawnattr_setflags.argtypes = [ctypes.c_void_p, ctypes.c_short]
    return libc


_libc = _load()
_closefrom = getattr(_libc, "posix_spawn_file_actions_addclosefrom_np", None)


def available() -> bool:
    """This C library can spawn a task the way the launcher needs."""
    return _libc is not None


def _check(code: int) -> None:
    if code:
        raise OSError(code, os.strerror(code))


class _Attributes:
    """The spawn attributes every task shares: a new session, default SIGPIPE and
    SIGXFSZ, no blocked signals. Built once; posix_spawn only reads them."""

    def __init__(self) -> None:
        assert _libc is not None
        self.buffer = ctypes.create_string_buffer(_ATTR_SIZE)
        _check(_libc.posix_spawnattr_init(self.buffer))
        defaults = ctypes.create_string_buffer(_SIGSET_SIZE)
        _libc.sigemptyset(defaults)
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):
            _libc.sigaddset(defaults, int(signum))
        empty = ctypes.create_string_buffer(_SIGSET_SIZE)
        _libc.sigemptyset(empty)
        _check(_libc.posix_spawnattr_setsigdefault(self.buffer, defaults))
        _check(_libc.posix_spawnattr_setsigmask(self.buffer, empty))
        flags = _POSIX_SPAWN_SETSID | _POSIX_SPAWN_SETSIGDEF | _POSIX_SPAWN_SETSIGMASK
        _check(_libc.posix_spawnattr_setflags(self.buffer, flags))


_attributes = _Attributes() if _libc is not None else None
_DEV_NULL = b"/dev/null"


def spawn(argv: Sequence[str], *, env: Mapping[str, str], cwd: str, output: int) -> int:
    """Start ``argv`` as a session leader in ``cwd`` with ``env``, stdin from /dev/null and
    stdout and stderr into the descriptor ``output``; return its pid. Raises OSError (with
    the errno and the program or folder in question) if it cannot start."""
    assert _attributes is not None, "posix_spawn is not available here"
    encoded_argv = [os.fsencode(arg) for arg in argv]
    arguments = (_c_array * (len(encoded_argv) + 1))(*encoded_argv, None)
    encoded_env = [os.fsencode(f"{key}={value}") for key, value in env.items()]
    environment = (_c_array * (len(encoded_env) + 1))(*encoded_env, None)
    for retry in (False, True):
        program = find_program(argv[0], env, cwd)
        pid, code = _spawn_file(program, arguments, environment, cwd, output, _attributes)
        if not code:
            return pid
        if retry or "/" in argv[0] or not _forget(argv[0], env):
            break  # else the file found earlier is gone: look it up again, once
    if code == errno.ENOENT and not os.path.isdir(cwd):
        raise FileNotFoundError(code, os.strerror(code), cwd)
    raise OSError(code, os.strerror(code), argv[0])


def _spawn_file(
    program: bytes,
    arguments: ctypes.Array[ctypes.c_char_p],
    environment: ctypes.Array[ctypes.c_char_p],
    cwd: str,
    output: int,
    attributes: _Attributes,
) -> tuple[int, int]:
    """The new process's pid, and the error number posix_spawn gave (0: none)."""
    assert _libc is not None
    actions = ctypes.create_string_buffer(_FILE_ACTIONS_SIZE)
    _check(_libc.posix_spawn_file_actions_init(actions))
    try:
        _check(_libc.posix_spawn_file_actions_addopen(actions, 0, _DEV_NULL, os.O_RDONLY, 0))
        _check(_libc.posix_spawn_file_actions_adddup2(actions, output, 1))
        _check(_libc.posix_spawn_file_actions_adddup2(actions, output, 2))
        _check(_libc.posix_spawn_file_actions_addchdir_np(actions, os.fsencode(cwd)))
        if _closefrom is not None:
            _check(_closefrom(actions, 3))
        pid = ctypes.c_int()
        code: int = _libc.posix_spawn(
            ctypes.byref(pid), program, actions, attributes.buffer, arguments, environment
        )
    finally:
        _libc.posix_spawn_file_actions_destroy(actions)
    return pid.value, code


# (program, PATH) -> the file found for it in an absolute PATH folder. Looked up once: a
# fan-out of one program pays for the search once. A program that moves is looked up again
# after the spawn fails.
_found: dict[tuple[str, str | None], bytes] = {}


def find_program(program: str, env: Mapping[str, str], cwd: str) -> bytes:
    """The file to execute for ``program``: itself if it holds a slash (relative to
    ``cwd``), else the first executable file of that name on the task's ``PATH``."""
    if "/" in program:
        return os.fsencode(os.path.join(cwd, program))
    key = (program, env.get("PATH"))
    found = _found.get(key)
    if found is not None:
        return found
    for folder in os.get_exec_path(dict(env)):
        candidate = os.path.join(cwd, folder, program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            found = os.fsencode(candidate)
            if os.path.isabs(folder):  # a relative folder's find depends on the cwd
                _found[key] = found
            return found
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


def _forget(program: str, env: Mapping[str, str]) -> bool:
    """Drop what was found for ``program``; False if nothing was."""
    return _found.pop((program, env.get("PATH")), None) is not None


def record_pid(path: str, pid: int) -> None:
    """Append ``<pid> <start time>`` to the pid list at ``path`` (one write: lines never
    interleave). The start time tells the process apart from a later one given the same
    pid, whatever its environment says (a task may clear it: ``env -i``)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, b"%d %d\n" % (pid, process_start(pid) or 0))
    finally:
        os.close(fd)


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None if there is no such
    process. A process keeps its pid until it is reaped, so its caller's child has one."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        try:
            stat = os.read(fd, 4096).decode()
        finally:
            os.close(fd)
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the command name may hold anything
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None
