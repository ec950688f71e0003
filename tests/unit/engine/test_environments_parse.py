"""Reading kfp Python components' install preambles, as the kfp 2.16.1 compiler writes them."""

from pathlib import Path
from typing import Any

import pytest
from kfp import dsl

from api_server.backends.embedded.environments import (
    KFP_EXECUTOR_MODULE,
    Environments,
    EnvironmentSetupError,
    InstallStep,
    parse_python_component,
)
from tests.kfp_specs import compile_pipeline, compiled_task

KFP_STEP = InstallStep(
    requirements=("kfp==2.16.1", 'typing-extensions>=3.7.4,<5; python_version<"3.9"'),
    flags=("--no-deps",),
)


@dsl.component
def plain() -> str:
    return "x"


@dsl.component(
    packages_to_install=["pandas", "numpy<3"],
    pip_index_urls=["https://pypi.example.test/simple", "https://mirror.example.test/simple"],
    pip_trusted_hosts=["pypi.example.test"],
)
def with_packages() -> str:
    return "x"


@dsl.component(packages_to_install=["numpy<3", "pandas"], use_venv=True)
def in_venv() -> str:
    return "x"


@dsl.component(install_kfp_package=False)
def without_kfp() -> str:
    return "x"


@dsl.container_component
def container() -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image="busybox", command=["sh", "-c", 'echo "$0" "$@"'], args=["a"])


@dsl.pipeline(name="preambles")
def preambles() -> None:
    plain()
    with_packages()
    in_venv()
    without_kfp()
    container()


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compile_pipeline(preambles, tmp_path_factory.mktemp("spec"))


def _command(spec: dict[str, Any], task: str) -> list[str]:
    command: list[str] = compiled_task(spec, task).container["command"]
    return command


def test_default_preamble_installs_only_kfp(spec: dict[str, Any]) -> None:
    command = _command(spec, "plain")
    parsed = parse_python_component(command)

    assert parsed is not None
    assert parsed.steps == (KFP_STEP,)
    assert list(parsed.inner_command) == command[3:]
    assert parsed.inner_command[:2] == ("sh", "-ec")
    assert KFP_EXECUTOR_MODULE in parsed.inner_command[2]


def test_packages_and_index_options_are_read(spec: dict[str, Any]) -> None:
    parsed = parse_python_component(_command(spec, "with-packages"))

    assert parsed is not None
    index_options = (
        "--index-url",
        "https://pypi.example.test/simple",
        "--extra-index-url",
        "https://mirror.example.test/simple",
        "--trusted-host",
        "pypi.example.test",
    )
    assert parsed.steps == (
        InstallStep(requirements=("numpy<3", "pandas"), index_options=index_options),
        InstallStep(KFP_STEP.requirements, KFP_STEP.flags, index_options),
    )


def test_use_venv_preamble_is_replaced_by_our_environment(spec: dict[str, Any]) -> None:
    parsed = parse_python_component(_command(spec, "in-venv"))

    assert parsed is not None
    assert [step.requirements for step in parsed.steps] == [
        ("numpy<3", "pandas"),
        KFP_STEP.requirements,
    ]


def test_commands_without_a_preamble_are_not_python_environments(
    spec: dict[str, Any], tmp_path: Path
) -> None:
    assert parse_python_component(_command(spec, "without-kfp")) is None
    assert parse_python_component(_command(spec, "container")) is None

    container = compiled_task(spec, "container").container
    prepared = Environments(tmp_path).prepare(container)
    assert prepared.argv_prefix == container["command"]
    assert prepared.environment_key is None
    assert prepared.container_for(container) == container
    assert not any(tmp_path.iterdir())  # nothing built


def test_equal_requirement_sets_share_an_environment(spec: dict[str, Any], tmp_path: Path) -> None:
    environments = Environments(tmp_path)
    command = _command(spec, "with-packages")
    assert "'pandas' 'numpy<3'" in command[2]
    reordered = [*command[:2], command[2].replace("'pandas' 'numpy<3'", "'numpy<3' 'pandas'")]
    parsed = [
        parse_python_component(candidate)
        for candidate in (
            command,
            [*reordered, *command[3:]],
            _command(spec, "plain"),
            _command(spec, "in-venv"),
        )
    ]
    keys = [environments.environment_key(each) for each in parsed if each is not None]

    assert len(keys) == 4
    assert keys[0] == keys[1]  # the order of packages_to_install does not matter
    assert len(set(keys)) == 3  # other packages or index options: another environment
    assert parsed[0] is not None
    with_pip_args = Environments(tmp_path, pip_args=["--no-index"])
    assert with_pip_args.environment_key(parsed[0]) != keys[0]


def _preamble(pip_arguments: str) -> list[str]:
    script = (
        f'\nPIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install {pip_arguments} && "$0" "$@"\n'
    )
    return ["sh", "-c", script, "sh", "-ec", f"python3 -m {KFP_EXECUTOR_MODULE} x", "src"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            "--index-url=https://a/simple -f /wheels --find-links=/more 'kfp==2.16.1'",
            InstallStep(
                ("kfp==2.16.1",),
                (),
                (
                    "--index-url",
                    "https://a/simple",
                    "--find-links",
                    "/wheels",
                    "--find-links",
                    "/more",
                ),
            ),
        ),
        (
            "-q -U --pre 'pkg[extra]>=1; python_version>\"3\"' other",
            InstallStep(("other", 'pkg[extra]>=1; python_version>"3"'), ("--upgrade", "--pre")),
        ),
        ("-i https://b/simple x", InstallStep(("x",), (), ("--index-url", "https://b/simple"))),
        (
            "--no-binary :all: --only-binary=numpy x",
            InstallStep(("x",), ("--no-binary", ":all:", "--only-binary", "numpy")),
        ),
    ],
)
def test_pip_option_forms(arguments: str, expected: InstallStep) -> None:
    parsed = parse_python_component(_preamble(arguments))
    assert parsed is not None
    assert parsed.steps == (expected,)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("-r requirements.txt", "'-r' in the component's install preamble is not supported"),
        ("--index-url", "--index-url needs a value"),
        ("--weird-option x", "'--weird-option'"),
        ("'unterminated", "cannot parse"),
    ],
)
def test_preambles_that_cannot_be_honoured_are_refused(arguments: str, message: str) -> None:
    with pytest.raises(EnvironmentSetupError, match=message):
        parse_python_component(_preamble(arguments))
