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
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
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
    ) -> None:
        self.root = Path(root)
        self.pip_args = tuple(pip_args)
        self.python = python or sys.executable
        self._interpreter = os.path.realpath(self.python)
        self.build_timeout = build_timeout
        self._ready: dict[str, Path] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._base_env = dict(os.environ)

    def prepare(self, container: dict[str, Any]) -> PreparedCommand:
        """How to run ``container`` here: a kfp Python component runs its inner command in
        the environment of its requirements (built now if needed); anything else runs
        unchanged with the server's environment."""
        command = container.get("command") or []
        parsed = parse_python_component(command) if isinstance(command, list) else None
        if parsed is None:
            return PreparedCommand(list(command), dict(self._base_env), None)
        key = self.environment_key(parsed)
        venv = self._ready.get(key) or self._ensure(key, parsed)
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
            if key in self._ready:
                return self._ready[key]
            published = self.path_of(key)
            locks = self.root / "locks"
            locks.mkdir(parents=True, exist_ok=True)
            with _file_lock(locks / f"{key}.lock"):
                if not published.is_dir():
                    self._build(key, parsed, published)
            self._ready[key] = published
            return published

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
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
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
