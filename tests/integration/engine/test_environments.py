"""Python environments built for real: isolated from the server, built once, failures clear."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kfp import dsl

from api_server.backends.embedded.environments import (
    Environments,
    EnvironmentSetupError,
    PreparedCommand,
)
from tests.kfp_specs import compile_pipeline, compiled_task


@dsl.component
def noop() -> None:
    pass


@dsl.pipeline(name="noop")
def noop_pipeline() -> None:
    noop()


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    spec = compile_pipeline(noop_pipeline, tmp_path_factory.mktemp("spec"))
    return compiled_task(spec, "noop").container


def _python(prepared: PreparedCommand, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``python3 -c code`` the way a task would find python3: through PATH."""
    return subprocess.run(
        ["python3", "-c", code], env=prepared.env, capture_output=True, text=True, timeout=60
    )


def test_component_environment_is_isolated_and_has_kfp_and_pip(
    environments: Environments, container: dict[str, Any]
) -> None:
    prepared = environments.prepare(container)

    assert prepared.environment_key is not None
    venv = environments.path_of(prepared.environment_key)
    assert prepared.env["PATH"].split(":")[0] == str(venv / "bin")
    assert prepared.argv_prefix == container["command"][3:]
    assert "PYTHONPATH" not in prepared.env

    probe = _python(
        prepared,
        "import sys, importlib.metadata as m, importlib.util as u;"
        "print(sys.prefix); print(m.version('kfp'));"
        "print(u.find_spec('fastapi') is None, u.find_spec('sqlalchemy') is None)",
    )
    assert probe.returncode == 0, probe.stderr
    prefix, kfp_version, isolated = probe.stdout.splitlines()
    assert Path(prefix).resolve() == venv.resolve()
    assert kfp_version == "2.16.1"
    assert isolated == "True True"  # the server's packages do not leak in
    pip = _python(prepared, "import pip, sys; print(pip.__file__.startswith(sys.prefix))")
    assert pip.stdout.strip() == "True", pip.stderr


def test_environment_is_reused_across_instances(
    environments_root: Path, container: dict[str, Any]
) -> None:
    first = Environments(environments_root).prepare(container)
    builds = sorted((environments_root / "builds").iterdir())

    again = Environments(environments_root).prepare(container)

    assert again.environment_key == first.environment_key
    assert sorted((environments_root / "builds").iterdir()) == builds
    assert [path for path in builds if path.is_dir()] == [
        environments_root.joinpath(str(first.environment_key)).resolve()
    ]


def test_concurrent_tasks_build_one_environment(tmp_path: Path, container: dict[str, Any]) -> None:
    # Separate instances, as separate processes would be: only the file lock keeps them apart.
    instances = [Environments(tmp_path) for _ in range(3)]
    barrier = threading.Barrier(len(instances))
    results: list[PreparedCommand | BaseException] = []

    def prepare(environments: Environments) -> None:
        barrier.wait()
        try:
            results.append(environments.prepare(container))
        except BaseException as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=prepare, args=(each,)) for each in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)

    assert all(isinstance(result, PreparedCommand) for result in results), results
    keys = {result.environment_key for result in results if isinstance(result, PreparedCommand)}
    assert len(results) == 3 and len(keys) == 1
    built = [path for path in (tmp_path / "builds").iterdir() if path.is_dir()]
    assert len(built) == 1


def test_failed_install_is_reported_and_nothing_is_published(
    tmp_path: Path, container: dict[str, Any]
) -> None:
    environments = Environments(tmp_path, pip_args=["--no-index"])

    with pytest.raises(EnvironmentSetupError) as excinfo:
        environments.prepare(container)

    message = str(excinfo.value)
    assert "pip install" in message and "kfp==2.16.1" in message
    assert "No matching distribution" in message or "Could not find" in message
    assert not any(path.is_dir() for path in (tmp_path / "builds").iterdir())
    assert not [path for path in tmp_path.iterdir() if path.is_symlink()]


def test_server_interpreter_is_untouched(
    environments: Environments, container: dict[str, Any]
) -> None:
    prepared = environments.prepare(container)

    assert sys.prefix not in prepared.env["PATH"].split(":")[0]
    assert str(environments.root) in prepared.env["VIRTUAL_ENV"]


# --- collecting unused environments ------------------------------------------------------

DAY = 86_400.0


def _publish(root: Path, key: str, *, used_days_ago: float | None) -> Path:
    """An environment laid out as a build publishes one (a folder under builds/, a link
    named by its key), last used ``used_days_ago`` (None: no use recorded)."""
    target = root / "builds" / f"{key}-0a1b2c3d"
    (target / "bin").mkdir(parents=True)
    (target / "bin" / "python").write_text("")
    (root / key).symlink_to(target, target_is_directory=True)
    if used_days_ago is not None:
        marker = root / "used" / key
        marker.parent.mkdir(exist_ok=True)
        marker.touch()
        _age(marker, used_days_ago)
    return target


def _age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when), follow_symlinks=False)


def _hold_lock(root: Path, key: str) -> subprocess.Popen[str]:
    """Another process holding the key's build lock (as a build would), until killed."""
    lock = root / "locks" / f"{key}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a+b');"
            " fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_environments_unused_for_the_idle_limit_are_removed_and_others_kept(
    tmp_path: Path,
) -> None:
    idle = _publish(tmp_path, "a" * 24, used_days_ago=31)
    recent = _publish(tmp_path, "b" * 24, used_days_ago=29)
    never_used = _publish(tmp_path, "c" * 24, used_days_ago=None)
    _age(tmp_path / ("c" * 24), 40)  # published 40 days ago, no use since

    removed = Environments(tmp_path, max_idle_seconds=30 * DAY).collect()

    assert removed == ["a" * 24, "c" * 24]
    assert not idle.exists() and not never_used.exists()
    assert (
        not (tmp_path / ("a" * 24)).is_symlink() and not (tmp_path / "used" / ("a" * 24)).exists()
    )
    assert recent.is_dir() and (tmp_path / ("b" * 24)).is_dir()


def test_without_an_idle_limit_nothing_is_removed(tmp_path: Path) -> None:
    idle = _publish(tmp_path, "a" * 24, used_days_ago=400)
    assert Environments(tmp_path).collect() == []
    assert Environments(tmp_path, max_idle_seconds=0).collect() == []
    assert idle.is_dir()


def test_an_environment_under_its_build_lock_is_left_for_the_next_collection(
    tmp_path: Path,
) -> None:
    key = "a" * 24
    idle = _publish(tmp_path, key, used_days_ago=31)
    environments = Environments(tmp_path, max_idle_seconds=30 * DAY)
    holder = _hold_lock(tmp_path, key)
    try:
        assert environments.collect() == []
        assert idle.is_dir()
    finally:
        holder.kill()
        holder.wait()
    assert environments.collect() == [key]
    assert not idle.exists()


def test_leftover_builds_and_markers_go_but_not_a_build_in_progress(tmp_path: Path) -> None:
    key = "a" * 24
    kept = _publish(tmp_path, key, used_days_ago=1)
    builds = tmp_path / "builds"
    crashed = builds / f"{key}-deadbeef"  # an older build of a published key, left behind
    crashed.mkdir()
    failed_log = builds / f"{'b' * 24}-12345678.log"
    failed_log.write_text("pip failed")
    for old in (crashed, failed_log):
        _age(old, 2)
    fresh = builds / f"{'c' * 24}-87654321"  # a build started an hour ago, still going
    fresh.mkdir()
    _age(fresh, 1 / 24)
    locked = builds / f"{'d' * 24}-11111111"  # old, but its key's build lock is held
    locked.mkdir()
    _age(locked, 3)
    stale_marker = tmp_path / "used" / ("e" * 24)  # a failed build's, long ago
    stale_marker.touch()
    _age(stale_marker, 31)
    foreign = builds / "notes.txt"  # not named like anything a build makes
    foreign.write_text("kept")
    _age(foreign, 40)

    holder = _hold_lock(tmp_path, "d" * 24)
    try:
        Environments(tmp_path, max_idle_seconds=30 * DAY).collect()
    finally:
        holder.kill()
        holder.wait()

    assert not crashed.exists() and not failed_log.exists() and not stale_marker.exists()
    assert fresh.is_dir() and locked.is_dir() and foreign.exists()
    assert not (tmp_path / "locks" / "notes.txt.lock").exists()
    assert kept.is_dir() and (tmp_path / "used" / key).exists()


def test_a_collected_environment_is_built_again_for_the_next_task(
    tmp_path: Path, container: dict[str, Any]
) -> None:
    environments = Environments(tmp_path, max_idle_seconds=30 * DAY)
    first = environments.prepare(container)
    key = str(first.environment_key)
    assert environments.last_used(key) == pytest.approx(time.time(), abs=60)
    assert environments.collect() == []  # just used

    # Collected by another instance, as another process sharing the folder would.
    collector = Environments(tmp_path, max_idle_seconds=30 * DAY)
    assert collector.collect(now=time.time() + 31 * DAY) == [key]
    assert not environments.path_of(key).exists()
    assert not any(path.is_dir() for path in (tmp_path / "builds").iterdir())

    # The first instance, which had it cached, builds it again; the task's Python runs.
    again = environments.prepare(container)
    assert again.environment_key == key and environments.path_of(key).is_dir()
    probe = _python(again, "import sys; print(sys.prefix)")
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).resolve() == environments.path_of(key).resolve()
