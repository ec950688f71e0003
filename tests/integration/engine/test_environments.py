"""Python environments built for real: isolated from the server, built once, failures clear."""

import subprocess
import sys
import threading
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
