"""Python environments for kfp Python components, built once per requirement set.

A kfp Python component's command starts with an install preamble::

    sh -c '... python3 -m pip install --quiet <index options> <packages_to_install> &&
           python3 -m pip install --quiet <index options> kfp==X --no-deps ... && "$0" "$@"'
    sh -ec 'program_path=$(mktemp -d) ... python3 -m kfp.dsl.executor_main ...' <source>

On a cluster every pod runs that pip install again in a fresh container. Here it would install
into whatever ``python3`` the server finds, so instead ``prepare`` parses the preamble (with
``shlex``, never by running it), drops it, and runs the inner ``sh -ec`` command with ``PATH``
starting at a virtual environment that holds exactly those packages. That environment lives
under ``root``, named by a hash of the install steps (requirements sorted, pip options, index
options, the Python version), and is built once: a file lock (``fcntl.flock``) makes concurrent
tasks, in this process or another, wait for one build; the build happens in a fresh folder and
is published by atomically replacing a symlink, so a half-built environment is never used and
a crash mid-build leaves only a folder that the next build removes. Later tasks with the same
requirements find it with one dictionary lookup.

The environment is created without ``--system-site-packages`` (the server's packages must not
leak into tasks). It gets its own pip (bootstrapped from the wheel bundled with ``ensurepip``,
which is several times faster than ``ensurepip`` itself), and every install runs with that pip.
Commands that are not kfp Python components run unchanged, with the server's environment.

Environments are removed once unused: each task's preparation records its use (the mtime of
``used/<key>``, at most hourly per process), and ``collect`` (the engine calls it at start
and every few hours) removes those unused for ``max_idle_seconds``, under their build lock.
A task that finds its environment gone builds it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: The module every kfp lightweight Python component runs.
KFP_EXECUTOR_MODULE = "kfp.dsl.executor_main"
#: Seconds one pip or venv command of a build may take before it is killed.
DEFAULT_BUILD_TIMEOUT = 900.0
#: An environment's name (see ``environment_key``).
_KEY = re.compile(r"[0-9a-f]{24}")
#: A process records an environment's use at most this often (seconds).
_NOTE_PERIOD = 3600.0
_DAY = 86_400.0

_SHELLS = {"sh", "/bin/sh", "bash", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash"}
_COMMAND_SEPARATORS = {"&&", "||", ";", "|", "&"}
# pip options that change where packages come from (each takes a value).
_INDEX_OPTIONS = {
    "--index-url": "--index-url",
    "-i": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "--trusted-host": "--trusted-host",
    "--find-links": "--find-links",
    "-f": "--find-links",
}
# pip flags that change what gets installed; kept in the install step and its hash.
_INSTALL_FLAGS = {"--no-deps", "--pre", "--upgrade", "-U"}
_FLAGS_WITH_VALUE = {"--no-binary", "--only-binary"}
# pip flags about output only; dropped.
_COSMETIC_FLAGS = {
    "--quiet",
    "-q",
    "-qq",
    "--no-warn-script-location",
    "--disable-pip-version-check",
    "--no-cache-dir",
    "--no-input",
    "--verbose",
    "-v",
}


class EnvironmentSetupError(RuntimeError):
    """A Python environment could not be prepared (unparseable preamble, failed install)."""


@dataclass(frozen=True)
class PreparedCommand:
    """How to run a container's command here.

    ``argv_prefix`` replaces the container's ``command`` (its ``args`` follow, resolved as
    usual: see ``container_for``); ``env`` is the whole process environment;
    ``environment_key`` names the virtual environment used, None when none is.
    """

    argv_prefix: list[str]
    env: dict[str, str]
    environment_key: str | None

    def container_for(self, container: dict[str, Any]) -> dict[str, Any]:
        """``container`` with its command replaced by ``argv_prefix``, ready for placeholder
        resolution."""
        return {**container, "command": list(self.argv_prefix)}


@dataclass(frozen=True)
class InstallStep:
    """One ``pip install`` of the preamble: its requirements, flags and index options."""

    requirements: tuple[str, ...]
    flags: tuple[str, ...] = ()
    index_options: tuple[str, ...] = ()

    def pip_arguments(self) -> list[str]:
        return [*self.index_options, *self.flags, *self.requirements]


@dataclass(frozen=True)
class PythonComponentCommand:
    """A kfp Python component's command, split into its install steps and what it runs."""

    steps: tuple[InstallStep, ...]
    inner_command: tuple[str, ...]
    index_options: tuple[str, ...] = ()


def parse_python_component(command: Sequence[str]) -> PythonComponentCommand | None:
    """The install steps and inner command of a kfp Python component's ``command``, or None
    for anything else. Raises ``EnvironmentSetupError`` for a preamble whose pip options
    cannot be honoured (``-r file``, an unknown option)."""
    return _parse_python_component(tuple(command))


@lru_cache(maxsize=256)
def _parse_python_component(command: tuple[str, ...]) -> PythonComponentCommand | None:
    if len(command) < 4 or command[0] not in _SHELLS or command[1] != "-c":
        return None
    script, inner = command[2], command[3:]
    if '"$0" "$@"' not in script or not any(KFP_EXECUTOR_MODULE in part for part in inner):
        return None
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise EnvironmentSetupError(
            f"cannot parse the component's install preamble: {exc}"
        ) from exc
    steps: list[InstallStep] = []
    index = 0
    while index < len(tokens):
        start = _pip_install_at(tokens, index)
        if start is None:
            index += 1
            continue
        end = start
        while end < len(tokens) and tokens[end] not in _COMMAND_SEPARATORS:
            end += 1
        steps.append(_install_step(tokens[start:end]))
        index = end
    if not steps:
        return None
    index_options = tuple(option for step in steps for option in step.index_options)
    return PythonComponentCommand(
        steps=tuple(steps), inner_command=tuple(inner), index_options=index_options
    )


def _pip_install_at(tokens: list[str], index: int) -> int | None:
    """Where the arguments start if a ``pip install`` command starts at ``index``."""
    for form in (["python3", "-m", "pip", "install"], ["python", "-m", "pip", "install"]):
        if tokens[index : index + len(form)] == form:
            return index + len(form)
    if tokens[index] in ("pip", "pip3") and tokens[index + 1 : index + 2] == ["install"]:
        return index + 2
    return None


def _install_step(arguments: list[str]) -> InstallStep:
    requirements: list[str] = []
    flags: list[str] = []
    index_options: list[str] = []
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        position += 1
        name, has_value, value = argument.partition("=")
        if name in _INDEX_OPTIONS or name in _FLAGS_WITH_VALUE:
            if not has_value:
                if position >= len(arguments):
                    raise EnvironmentSetupError(f"pip option {name} needs a value")
                value = arguments[position]
                position += 1
            target = index_options if name in _INDEX_OPTIONS else flags
            target.extend([_INDEX_OPTIONS.get(name, name), value])
        elif argument in _INSTALL_FLAGS:
            flags.append("--upgrade" if argument == "-U" else argument)
        elif argument in _COSMETIC_FLAGS:
            continue
        elif argument.startswith("-"):
            raise EnvironmentSetupError(
                f"pip option {argument!r} in the component's install preamble is not supported"
            )
        else:
            requirements.append(argument)
    return InstallStep(
        requirements=tuple(sorted(requirements)),
        flags=tuple(flags),
        index_options=tuple(index_options),
    )


class Environments:
    """Virtual environments under ``root`` for kfp Python components.

    ``pip_args`` are given to every ``pip install`` before the component's own options (so a
    component's ``--index-url`` still wins); ``python`` is the interpreter environments are
    created from (the server's by default).
    """

    def __init__(
        self,
        root: Path,
        *,
        pip_args: Sequence[str] = (),
        python: str | None = None,
        build_timeout: float = DEFAULT_BUILD_TIMEOUT,
        max_idle_seconds: float | None = None,
    ) -> None:
        self.root = Path(root)
        self.max_idle_seconds = max_idle_seconds or None
        self.pip_args = tuple(pip_args)
        self.python = python or sys.executable
        self._interpreter = os.path.realpath(self.python)
        self.build_timeout = build_timeout
        self._ready: dict[str, Path] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._base_env = dict(os.environ)
        self._noted: dict[str, float] = {}  # when this process last recorded a key's use

    def prepare(self, container: dict[str, Any]) -> PreparedCommand:
        """How to run ``container`` here: a kfp Python component runs its inner command in
        the environment of its requirements (built now if needed); anything else runs
        unchanged with the server's environment."""
        command = container.get("command") or []
        parsed = parse_python_component(command) if isinstance(command, list) else None
        if parsed is None:
            return PreparedCommand(list(command), dict(self._base_env), None)
        key = self.environment_key(parsed)
        self._note_use(key)  # first: from here on, collect() leaves it alone
        venv = self._ready.get(key)
        if venv is None or not venv.is_dir():  # new, or collected by another process
            venv = self._ensure(key, parsed)
        return PreparedCommand(list(parsed.inner_command), self._venv_env(venv), key)

    def is_ready(self, container: Mapping[str, Any]) -> bool:
        """:meth:`prepare` would return at once: no environment to build for it."""
        command = container.get("command") or []
        parsed = parse_python_component(command) if isinstance(command, list) else None
        return parsed is None or self.environment_key(parsed) in self._ready

    def environment_key(self, parsed: PythonComponentCommand) -> str:
        """A stable name for the environment ``parsed`` needs."""
        identity = {
            "python": [platform.python_implementation(), platform.python_version(), sys.platform],
            "interpreter": self._interpreter,
            "pip_args": list(self.pip_args),
            "steps": [
                [list(step.requirements), list(step.flags), list(step.index_options)]
                for step in parsed.steps
            ],
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return digest[:24]

    def path_of(self, key: str) -> Path:
        """Where the environment named ``key`` is published."""
        return self.root / key

    def _venv_env(self, venv: Path) -> dict[str, str]:
        env = dict(self._base_env)
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)])
        env["VIRTUAL_ENV"] = str(venv)
        env["PYTHONUNBUFFERED"] = "1"  # task logs stream while it runs
        for leaking in ("PYTHONHOME", "PYTHONPATH"):
            env.pop(leaking, None)
        return env

    def _ensure(self, key: str, parsed: PythonComponentCommand) -> Path:
        with self._guard:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            ready = self._ready.get(key)
            if ready is not None and ready.is_dir():
                return ready
            published = self.path_of(key)
            with _file_lock(self._lock_path(key)):
                if not published.is_dir():
                    self._build(key, parsed, published)
                    self._touch_marker(key)  # its first use: it is not idle
            self._ready[key] = published
            return published

    # --- collection -------------------------------------------------------------------

    def _note_use(self, key: str) -> None:
        """Record that a task uses the environment: the mtime of ``used/<key>``, written
        at most every _NOTE_PERIOD (a quarter of the idle limit, if shorter) per process,
        so a use is never older than that while its task prepares. Written under the
        environment's lock: a collector that already decided to remove it finishes first
        (and the caller then builds it again)."""
        now = time.time()
        period = min(_NOTE_PERIOD, (self.max_idle_seconds or _NOTE_PERIOD) / 4)
        if now - self._noted.get(key, 0.0) < period:
            return
        with _file_lock(self._lock_path(key)):
            if self._touch_marker(key):
                self._noted[key] = now

    def _touch_marker(self, key: str) -> bool:
        marker = self.root / "used" / key
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError as exc:  # collection then goes by the publication time
            logger.warning(
                "could not record a task environment's use",
                extra={"environment": key, "error": str(exc)},
            )
            return False
        return True

    def _lock_path(self, key: str) -> Path:
        return self.root / "locks" / f"{key}.lock"

    def last_used(self, key: str) -> float | None:
        """When a task last used the environment (epoch seconds; when it was published if
        no use was recorded); None if there is no such environment."""
        for path in (self.root / "used" / key, self.path_of(key)):
            try:
                return path.lstat().st_mtime
            except FileNotFoundError:
                continue
        return None

    def collect(self, now: float | None = None) -> list[str]:
        """Remove the environments no task has used for ``max_idle_seconds`` (none if it
        is unset), and build folders that no environment points at and no build holds.
        Returns the keys removed.

        An environment is removed under its build lock, taken without waiting (a build or
        another collector holding it means busy: try next time), after its last use is
        read again under that lock. Its link goes first, so a task preparing meanwhile
        builds it again rather than finding half of it."""
        if self.max_idle_seconds is None:
            return []
        now = time.time() if now is None else now
        removed = []
        for key in self._published_keys():
            last = self.last_used(key)
            if last is None or now - last < self.max_idle_seconds:
                continue
            with _file_lock(self._lock_path(key), wait=False) as held:
                last = self.last_used(key)
                if not held or last is None or now - last < self.max_idle_seconds:
                    continue
                published = self.path_of(key)
                target = published.resolve()
                published.unlink(missing_ok=True)
                self._ready.pop(key, None)
                self._noted.pop(key, None)
                (self.root / "used" / key).unlink(missing_ok=True)
                shutil.rmtree(target, ignore_errors=True)
            removed.append(key)
            logger.info(
                "removed an unused Python environment",
                extra={"environment": key, "idle_days": round((now - last) / 86_400, 1)},
            )
        self._remove_leftovers(now)
        return removed

    def _published_keys(self) -> list[str]:
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        return sorted(e.name for e in entries if e.is_symlink() and not e.name.startswith("."))

    def _remove_leftovers(self, now: float) -> None:
        """What no published environment uses, under its key's lock (taken without
        waiting: a build holds it while it works): build folders and logs older than a
        day (a crash or a failed build left them), and use markers older than the idle
        limit (a build that failed)."""
        assert self.max_idle_seconds is not None
        leftovers: list[tuple[os.DirEntry[str], str, float]] = []
        for folder, age in (
            (self.root / "builds", _DAY),
            (self.root / "used", self.max_idle_seconds),
        ):
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            leftovers += [(entry, entry.name.split("-", 1)[0], age) for entry in entries]
        for entry, key, age in leftovers:
            if not _KEY.fullmatch(key):
                continue  # not of our making: left alone
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime < age:
                    continue
            except FileNotFoundError:
                continue
            with _file_lock(self._lock_path(key), wait=False) as held:
                published = self.path_of(key)
                in_use = published.is_symlink() and (
                    entry.name == key or published.resolve() == Path(entry.path).resolve()
                )
                if not held or in_use:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    Path(entry.path).unlink(missing_ok=True)

    def _build(self, key: str, parsed: PythonComponentCommand, published: Path) -> None:
        builds = self.root / "builds"
        builds.mkdir(exist_ok=True)
        for stale in builds.glob(f"{key}-*"):  # left by a build that crashed (we hold the lock)
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        target = builds / f"{key}-{uuid.uuid4().hex[:8]}"
        log_path = builds / f"{target.name}.log"
        started = time.monotonic()
        logger.info(
            "building Python environment",
            extra={"environment": key, "requirements": [s.requirements for s in parsed.steps]},
        )
        try:
            with open(log_path, "ab") as log:
                self._create_venv(target, log)
                python = str(target / "bin" / "python")
                for step in parsed.steps:
                    self._run(
                        [
                            python,
                            "-m",
                            "pip",
                            "install",
                            "--disable-pip-version-check",
                            "--no-input",
                            "--quiet",
                            "--no-warn-script-location",
                            *self.pip_args,
                            *step.pip_arguments(),
                        ],
                        log,
                        f"pip install {' '.join(step.requirements)}",
                    )
            link = self.root / f".{key}.{uuid.uuid4().hex[:8]}.link"
            link.symlink_to(target, target_is_directory=True)
            os.replace(link, published)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        log_path.unlink(missing_ok=True)
        logger.info(
            "Python environment ready",
            extra={"environment": key, "seconds": round(time.monotonic() - started, 2)},
        )

    def _create_venv(self, target: Path, log: Any) -> None:
        wheel = _bundled_pip_wheel()
        if wheel is None:  # no bundled wheel (some distributions strip it): the slow way
            self._run([self.python, "-m", "venv", str(target)], log, "python -m venv")
            return
        self._run([self.python, "-m", "venv", "--without-pip", str(target)], log, "python -m venv")
        self._run(
            [
                str(target / "bin" / "python"),
                f"{wheel}/pip",
                "install",
                "--quiet",
                "--no-index",
                "--no-deps",
                "--no-compile",
                "--disable-pip-version-check",
                str(wheel),
            ],
            log,
            "pip bootstrap",
        )

    def _run(self, argv: list[str], log: Any, what: str) -> None:
        log.write(f"$ {shlex.join(argv)}\n".encode())
        log.flush()
        env = dict(self._base_env)
        for leaking in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV"):
            env.pop(leaking, None)
        started = time.monotonic()
        try:
            completed = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=self.build_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EnvironmentSetupError(
                f"{what} did not finish within {self.build_timeout:.0f} s"
            ) from None
        if completed.returncode != 0:
            raise EnvironmentSetupError(
                f"{what} failed (exit {completed.returncode}): {_tail(Path(log.name))}"
            )
        logger.debug("%s took %.2f s", what, time.monotonic() - started)


@contextlib.contextmanager
def _file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold ``path``'s exclusive lock; with ``wait=False`` yields False (holding nothing)
    when another holder has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@lru_cache(maxsize=1)
def _bundled_pip_wheel() -> Path | None:
    """The pip wheel that ships with ``ensurepip``, if this Python has one."""
    try:
        import ensurepip
    except ImportError:
        return None
    wheels = sorted(Path(ensurepip.__file__).parent.glob("_bundled/pip-*.whl"))
    return wheels[-1] if wheels else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"
