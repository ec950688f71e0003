"""Per-task costs of the embedded engine's executor parts, measured on real processes.

    .venv/bin/python bench/bench_executor.py [--repeat 30] [--json out.json]

Prints: preparing a Python environment cold (venv + pip bootstrap + kfp install) and warm
(another Environments instance on the same root, and the in-memory hit); launch-to-exit of a
trivial container command and of a trivial kfp Python component in its warm environment; the
in-process work per task (ExecutorInput, placeholders, reading outputs back). It measures and
prints; it does not fail on slow figures.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler, dsl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api_server.backends.embedded.environments import Environments  # noqa: E402
from api_server.backends.embedded.executor_input import (  # noqa: E402
    build_executor_input,
    read_executor_output,
)
from api_server.backends.embedded.launcher import ProcessLauncher  # noqa: E402
from api_server.backends.embedded.placeholders import (  # noqa: E402
    PipelineContext,
    resolve_command,
)


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


@dsl.container_component
def echo(text: str) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image="busybox", command=["echo"], args=[text])


@dsl.pipeline(name="bench-executor")
def bench_pipeline() -> None:
    add(a=1, b=2)
    echo(text="hello")


def _task(spec: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    task = spec["root"]["dag"]["tasks"][name]
    component = spec["components"][task["componentRef"]["name"]]
    return spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"], component


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 2),
        "min_ms": round(ordered[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-executor-") as folder:
        root = Path(folder)
        compiler.Compiler().compile(bench_pipeline, str(root / "spec.yaml"))
        spec = yaml.safe_load((root / "spec.yaml").read_text())
        python_container, python_component = _task(spec, "add")
        echo_container, echo_component = _task(spec, "echo")
        launcher = ProcessLauncher()

        environments = Environments(root / "envs")
        results["prepare_cold_ms"] = round(_timed(lambda: environments.prepare(python_container)))
        results["prepare_warm_new_instance_ms"] = round(
            _timed(lambda: Environments(root / "envs").prepare(python_container)), 3
        )
        results["prepare_warm_ms"] = _summary(
            [_timed(lambda: environments.prepare(python_container)) for _ in range(1000)]
        )

        def run(container: dict[str, Any], component: dict[str, Any], index: int) -> float:
            work = root / "work" / str(index)
            outputs = component.get("outputDefinitions", {}).get("parameters", {})
            executor_input = build_executor_input(
                parameters={"a": 1, "b": 2, "text": "hello"},
                input_artifacts={},
                output_parameters=outputs,
                output_artifacts={},
                output_file=str(work / "executor_output.json"),
                work_dir=work,
            )
            prepared = environments.prepare(container)
            context = PipelineContext("bench", "run", "task", str(index), str(root))
            argv = resolve_command(
                prepared.container_for(container), executor_input, component, pipeline=context
            )
            started = time.perf_counter()
            process = launcher.start(argv, env=prepared.env, cwd=work, log_path=work / "log")
            code = process.wait()
            elapsed = (time.perf_counter() - started) * 1000
            if code != 0:
                raise SystemExit(f"task failed ({code}): {(work / 'log').read_text()}")
            read_executor_output(executor_input, work, component=component)
            return elapsed

        repeat = options.repeat
        results["container_launch_to_exit"] = _summary(
            [run(echo_container, echo_component, i) for i in range(repeat)]
        )
        results["python_component_launch_to_exit"] = _summary(
            [run(python_container, python_component, 1000 + i) for i in range(repeat)]
        )

        def in_process(index: int) -> None:
            work = root / "inproc" / str(index)
            executor_input = build_executor_input(
                parameters={"a": 1, "b": 2},
                input_artifacts={},
                output_parameters=["Output"],
                output_artifacts={},
                output_file=str(work / "executor_output.json"),
                work_dir=work,
            )
            prepared = environments.prepare(python_container)
            resolve_command(
                prepared.container_for(python_container),
                executor_input,
                python_component,
                pipeline=PipelineContext("bench", "run", "task", str(index), str(root)),
            )
            (work / "outputs" / "Output").write_text("3")
            read_executor_output(executor_input, work, component=python_component)

        results["in_process_per_task"] = _summary(
            [_timed(lambda i=i: in_process(i)) for i in range(200)]
        )

    for name, value in results.items():
        print(f"{name:36} {value}")
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
