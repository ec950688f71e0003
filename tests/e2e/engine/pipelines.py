"""The pipelines of the engine acceptance suite: each exercises one feature of the engine.

Every component that matters writes a *side file* into ``side_dir`` (a folder of the test,
passed as a pipeline parameter) so the tests can check what ran, how often, in which order,
with which values, independently of what the API reports. Components are self-contained
(kfp ships a Python component's source to the task), hence the local imports.

Expected values live next to the pipelines (``EXPECTED_*``) so that the end-to-end tests and
the kfp.local checks of ``test_pipelines_local.py`` assert the same thing.
"""

# No "from __future__ import annotations": kfp reads the component annotations at runtime.

import json
from pathlib import Path
from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import (
    HTML,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
)

# --------------------------------------------------------------------------------------
# Parameters of every type, in and out (Python components).
# --------------------------------------------------------------------------------------


@dsl.component
def make_values(seed: int) -> NamedTuple(
    "Values",
    [
        ("text", str),
        ("count", int),
        ("ratio", float),
        ("flag", bool),
        ("items", list),
        ("config", dict),
    ],
):
    """Derive one value of each parameter type from ``seed``."""
    from collections import namedtuple

    values = namedtuple("Values", ["text", "count", "ratio", "flag", "items", "config"])
    return values(
        f"seed-{seed}",
        seed * 2,
        seed / 4,
        seed % 2 == 1,
        [seed, seed + 1, seed + 2],
        {"seed": seed, "nested": {"ok": True, "tags": ["x", "y"]}},
    )


@dsl.component
def consume_values(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    items: list,
    config: dict,
    side_dir: str,
    tag: str,
) -> str:
    """Record what arrived (value and Python type) and return a summary built from it."""
    import json
    import os

    received = {
        name: {"value": value, "type": type(value).__name__}
        for name, value in {
            "text": text,
            "count": count,
            "ratio": ratio,
            "flag": flag,
            "items": items,
            "config": config,
        }.items()
    }
    with open(os.path.join(side_dir, f"{tag}.json"), "w") as f:
        json.dump(received, f, sort_keys=True)
    print(f"consume-values saw {text} for {tag}")
    return f"{text}|{count * 2}|{ratio + 1}|{not flag}|{len(items)}|{config['nested']['tags']}"


@dsl.pipeline(name="engine-parameters")
def parameters_pipeline(
    side_dir: str,
    seed: int = 3,
    text: str = "given",
    count: int = 4,
    ratio: float = 2.5,
    flag: bool = False,
    items: list = [10, 20],  # noqa: B006 - a pipeline default, never mutated
    config: dict = {"nested": {"tags": ["p"]}},  # noqa: B006
) -> str:
    made = make_values(seed=seed)
    from_task = consume_values(
        text=made.outputs["text"],
        count=made.outputs["count"],
        ratio=made.outputs["ratio"],
        flag=made.outputs["flag"],
        items=made.outputs["items"],
        config=made.outputs["config"],
        side_dir=side_dir,
        tag="from-task",
    )
    consume_values(
        text=text,
        count=count,
        ratio=ratio,
        flag=flag,
        items=items,
        config=config,
        side_dir=side_dir,
        tag="from-pipeline",
    ).set_display_name("consume-pipeline-inputs")
    return from_task.output


PARAMETERS_ARGUMENTS = {
    "seed": 5,
    "text": "héllo wörld",
    "count": -7,
    "ratio": 0.125,
    "flag": True,
    "items": ["a", 1, {"k": [1, 2]}, True],
    "config": {"nested": {"tags": ["q", "r"]}, "n": 1.5},
}
EXPECTED_MADE = {
    "text": "seed-5",
    "count": 10,
    "ratio": 1.25,
    "flag": True,
    "items": [5, 6, 7],
    "config": {"seed": 5, "nested": {"ok": True, "tags": ["x", "y"]}},
}
EXPECTED_SUMMARY = "seed-5|20|2.25|False|3|['x', 'y']"
PYTHON_TYPES = {
    "text": "str",
    "count": "int",
    "ratio": "float",
    "flag": "bool",
    "items": "list",
    "config": "dict",
}


def check_received_parameters(side_dir: Path) -> None:
    """What both consumers received: values and Python types, from a task and from the
    pipeline's arguments."""
    from_task = json.loads((side_dir / "from-task.json").read_text())
    assert {k: v["value"] for k, v in from_task.items()} == EXPECTED_MADE
    assert {k: v["type"] for k, v in from_task.items()} == PYTHON_TYPES
    from_pipeline = json.loads((side_dir / "from-pipeline.json").read_text())
    assert {k: v["value"] for k, v in from_pipeline.items()} == {
        k: PARAMETERS_ARGUMENTS[k] for k in PYTHON_TYPES
    }
    assert {k: v["type"] for k, v in from_pipeline.items()} == PYTHON_TYPES


# --------------------------------------------------------------------------------------
# Container components: every placeholder.
# --------------------------------------------------------------------------------------

# $0 = side file; $1 text; $2 number; $3 input dataset path; $4 output dataset path;
# $5 output parameter path; $6 the concat; then the if-present expansion.
_SHELL_SCRIPT = """
printf '%s\\n' "$@" > "$0"
cat "$3" > "$4"
printf ' + %s x %s' "$1" "$2" >> "$4"
printf '%s:%s' "$1" "$2" > "$5"
"""


@dsl.container_component
def write_text(content: str, out_data: Output[Dataset]):
    """A Dataset produced by a container, for the placeholder test downstream."""
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["sh", "-c", 'printf "%s" "$0" > "$1"'],
        args=[content, out_data.path],
    )


@dsl.container_component
def shell_all(
    side_dir: str,
    tag: str,
    text: str,
    number: int,
    data: Input[Dataset],
    out_data: Output[Dataset],
    out_text: OutputPath(str),
    job_id: str,
    task_name: str,
    # kfp 2.16 rejects `str | None` (it reads it as an artifact type name).
    optional: Optional[str] = None,  # noqa: UP045
):
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["sh", "-c", _SHELL_SCRIPT, dsl.ConcatPlaceholder([side_dir, "/", tag, ".args"])],
        args=[
            text,
            number,
            data.path,
            out_data.path,
            out_text,
            dsl.ConcatPlaceholder(["pre-", text, "-", number, "-post"]),
            dsl.IfPresentPlaceholder(
                input_name="optional", then=["--optional", optional], else_=["--absent"]
            ),
            job_id,
            task_name,
        ],
    )


_EXECUTOR_IO_SCRIPT = """
import json, sys
executor_input = json.loads(sys.argv[1])
values = executor_input["inputs"]["parameterValues"]
with open(values["side_dir"] + "/executor-input.json", "w") as f:
    json.dump(executor_input, f)
out = {"parameterValues": {"doubled": values["count"] * 2}}
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
"""


@dsl.container_component
def executor_io(side_dir: str, count: int, doubled: OutputPath(int)):
    """Reads ``{{$}}`` and answers through ``executor_output.json`` (not the output file)."""
    return dsl.ContainerSpec(
        image="python:3.11-slim",
        command=["python3", "-c", _EXECUTOR_IO_SCRIPT],
        args=[
            dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
            dsl.PIPELINE_TASK_EXECUTOR_OUTPUT_PATH_PLACEHOLDER,
        ],
    )


@dsl.component
def check_container_outputs(data: Input[Dataset], text: str, doubled: int) -> str:
    with open(data.path) as f:
        return f"{f.read()}|{text}|{doubled}"


@dsl.pipeline(name="engine-container-placeholders")
def container_pipeline(side_dir: str, text: str = "abc", number: int = 7) -> str:
    source = write_text(content="seed-data")
    with_optional = shell_all(
        side_dir=side_dir,
        tag="with-optional",
        text=text,
        number=number,
        data=source.outputs["out_data"],
        optional="given",
        job_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        task_name=dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
    )
    shell_all(
        side_dir=side_dir,
        tag="without-optional",
        text=text,
        number=number,
        data=source.outputs["out_data"],
        job_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        task_name=dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
    )
    io = executor_io(side_dir=side_dir, count=number)
    return check_container_outputs(
        data=with_optional.outputs["out_data"],
        text=with_optional.outputs["out_text"],
        doubled=io.outputs["doubled"],
    ).output


CONTAINER_ARGUMENTS = {"text": "a b", "number": 21}


def expected_shell_args(run_id: str, task_name: str, optional: bool) -> list[str]:
    """The argv lines shell_all writes, minus the paths (checked separately)."""
    tail = ["--optional", "given"] if optional else ["--absent"]
    return ["a b", "21", "pre-a b-21-post", *tail, run_id, task_name]


EXPECTED_CONTAINER_RESULT = "seed-data + a b x 21|a b:21|42"


# --------------------------------------------------------------------------------------
# Artifacts: typed outputs with metadata, read downstream.
# --------------------------------------------------------------------------------------


@dsl.component
def write_artifacts(
    rows: int,
    dataset: Output[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    html: Output[HTML],
    markdown: Output[Markdown],
):
    with open(dataset.path, "w") as f:
        f.write("\n".join(f"row-{i}" for i in range(rows)))
    dataset.metadata["rows"] = rows
    dataset.metadata["origin"] = "write-artifacts"
    with open(model.path, "w") as f:
        f.write("weights:0.5")
    model.metadata["framework"] = "none"
    metrics.log_metric("accuracy", 0.875)
    metrics.log_metric("rows", rows)
    classification.log_confusion_matrix(["cat", "dog"], [[3, 1], [0, 4]])
    with open(html.path, "w") as f:
        f.write("<h1>report</h1>")
    with open(markdown.path, "w") as f:
        f.write("# notes\n* one")


@dsl.component
def read_artifacts(
    dataset: Input[Dataset],
    model: Input[Model],
    metrics: Input[Metrics],
    classification: Input[ClassificationMetrics],
    html: Input[HTML],
    markdown: Input[Markdown],
    side_dir: str,
) -> str:
    import json
    import os

    seen = {}
    for name, artifact in {
        "dataset": dataset,
        "model": model,
        "html": html,
        "markdown": markdown,
    }.items():
        with open(artifact.path) as f:
            seen[name] = {"content": f.read(), "metadata": artifact.metadata}
    seen["metrics"] = {"metadata": metrics.metadata}
    seen["classification"] = {"metadata": classification.metadata}
    with open(os.path.join(side_dir, "artifacts.json"), "w") as f:
        json.dump(seen, f, sort_keys=True)
    return f"{int(dataset.metadata['rows'])}:{metrics.metadata['accuracy']}"


@dsl.pipeline(name="engine-artifacts")
def artifacts_pipeline(side_dir: str, rows: int = 3) -> str:
    written = write_artifacts(rows=rows)
    return read_artifacts(
        dataset=written.outputs["dataset"],
        model=written.outputs["model"],
        metrics=written.outputs["metrics"],
        classification=written.outputs["classification"],
        html=written.outputs["html"],
        markdown=written.outputs["markdown"],
        side_dir=side_dir,
    ).output


EXPECTED_ARTIFACT_CONTENT = {
    "dataset": "row-0\nrow-1\nrow-2",
    "model": "weights:0.5",
    "html": "<h1>report</h1>",
    "markdown": "# notes\n* one",
}
EXPECTED_ARTIFACT_METADATA = {
    "dataset": {"rows": 3, "origin": "write-artifacts"},
    "model": {"framework": "none"},
    "metrics": {"accuracy": 0.875, "rows": 3},
}
EXPECTED_CONFUSION_MATRIX = {
    "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
    "rows": [{"row": [3, 1]}, {"row": [0, 4]}],
}


def check_read_artifacts(side_dir: Path) -> None:
    """What the reader saw of every artifact: content and metadata."""
    seen = json.loads((side_dir / "artifacts.json").read_text())
    for name, content in EXPECTED_ARTIFACT_CONTENT.items():
        assert seen[name]["content"] == content, name
    for name, metadata in EXPECTED_ARTIFACT_METADATA.items():
        assert seen[name]["metadata"] == metadata, name
    assert seen["classification"]["metadata"]["confusionMatrix"] == EXPECTED_CONFUSION_MATRIX


# --------------------------------------------------------------------------------------
# packages_to_install and the importer.
# --------------------------------------------------------------------------------------

#: A pure-Python package pinned to a version other than the server's own (0.10.x), so the
#: version the task sees proves it ran in an environment of its own.
TABULATE_PIN = "tabulate==0.9.0"


@dsl.component(packages_to_install=[TABULATE_PIN])
def use_package(side_dir: str, tag: str) -> str:
    import json
    import os
    import sys

    import tabulate

    table = tabulate.tabulate([["a", 1], ["b", 2]], headers=["k", "v"], tablefmt="plain")
    with open(os.path.join(side_dir, f"package-{tag}.json"), "w") as f:
        json.dump({"prefix": sys.prefix, "version": tabulate.__version__, "table": table}, f)
    return tabulate.__version__


@dsl.component
def read_imported(data: Input[Dataset]) -> str:
    with open(data.path) as f:
        return f"{f.read()}|{data.metadata.get('source')}"


class PackagesOut(NamedTuple):
    version: str
    imported: str


@dsl.pipeline(name="engine-packages-importer")
def packages_importer_pipeline(side_dir: str, data_uri: str) -> PackagesOut:
    version = use_package(side_dir=side_dir, tag="one")
    use_package(side_dir=side_dir, tag="two")  # the same requirements: the same environment
    imported = dsl.importer(
        artifact_uri=data_uri,
        artifact_class=Dataset,
        reimport=False,
        metadata={"source": "test-import"},
    )
    read = read_imported(data=imported.output)
    return PackagesOut(version=version.output, imported=read.output)


# --------------------------------------------------------------------------------------
# Nested sub-pipelines with parameter and artifact outputs.
# --------------------------------------------------------------------------------------


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


@dsl.component
def text_to_dataset(text: str, out: Output[Dataset]):
    with open(out.path, "w") as f:
        f.write(text)


@dsl.component
def dataset_text(data: Input[Dataset], suffix: str) -> str:
    with open(data.path) as f:
        return f.read() + suffix


@dsl.pipeline(name="inner")
def inner_pipeline(x: int) -> int:
    return add(a=x, b=100).output


class MiddleOut(NamedTuple):
    total: int
    data: Dataset


class NestedOut(NamedTuple):
    total: int
    text: str


@dsl.pipeline(name="middle")
def middle_pipeline(x: int) -> MiddleOut:
    first = inner_pipeline(x=x)
    second = inner_pipeline(x=first.output)
    data = text_to_dataset(text="middle-made")
    return MiddleOut(total=second.output, data=data.outputs["out"])


@dsl.pipeline(name="engine-nested")
def nested_pipeline(x: int = 1) -> NestedOut:
    middle = middle_pipeline(x=x)
    final = add(a=middle.outputs["total"], b=1)
    text = dataset_text(data=middle.outputs["data"], suffix="!")
    return NestedOut(total=final.output, text=text.output)


NESTED_X = 5
EXPECTED_NESTED_TOTAL = 5 + 100 + 100 + 1
EXPECTED_NESTED_TEXT = "middle-made!"


# --------------------------------------------------------------------------------------
# Control flow: If/Elif/Else, OneOf, ParallelFor, Collected.
# --------------------------------------------------------------------------------------


@dsl.component
def classify(value: int) -> str:
    return "big" if value > 10 else ("medium" if value > 5 else "small")


@dsl.component
def branch(side_dir: str, name: str) -> str:
    import os

    with open(os.path.join(side_dir, f"branch-{name}"), "w") as f:
        f.write(name)
    return f"took {name}"


@dsl.component
def report(side_dir: str, message: str) -> str:
    import os

    with open(os.path.join(side_dir, "oneof"), "w") as f:
        f.write(message)
    return message.upper()


@dsl.pipeline(name="engine-conditions")
def conditions_pipeline(side_dir: str, value: int) -> str:
    kind = classify(value=value)
    with dsl.If(kind.output == "big"):
        big = branch(side_dir=side_dir, name="big")
    with dsl.Elif(kind.output == "medium"):
        medium = branch(side_dir=side_dir, name="medium")
    with dsl.Else():
        small = branch(side_dir=side_dir, name="small")
    # A numeric condition on a pipeline parameter, independent of the chain above.
    with dsl.If(value >= 7):
        branch(side_dir=side_dir, name="at-least-seven").set_display_name("threshold")
    chosen = report(side_dir=side_dir, message=dsl.OneOf(big.output, medium.output, small.output))
    return chosen.output


def expected_branch(value: int) -> str:
    return "big" if value > 10 else ("medium" if value > 5 else "small")


@dsl.component
def square(side_dir: str, x: int, pause: float) -> int:
    import os
    import time

    start = time.time()
    time.sleep(pause)
    with open(os.path.join(side_dir, f"square-{x}"), "w") as f:
        f.write(f"{start} {time.time()}")
    return x * x


@dsl.component
def square_to_dataset(x: int, out: Output[Dataset]):
    with open(out.path, "w") as f:
        f.write(str(x * x))
    out.metadata["x"] = x


@dsl.component
def make_items(n: int) -> list:
    # Not "name": on a loop item, ``item.name`` is the channel's own name, not the field.
    return [{"label": f"item-{i}", "weight": i + 1} for i in range(n)]


@dsl.component
def weigh(side_dir: str, name: str, weight: int) -> str:
    import os

    with open(os.path.join(side_dir, f"weigh-{name}"), "w") as f:
        f.write(str(weight))
    return f"{name}={weight * 10}"


@dsl.component
def total(values: list) -> int:
    return sum(values)


@dsl.component
def join_sorted(values: list) -> str:
    return ",".join(sorted(values))


@dsl.component
def read_all(datasets: Input[list[Dataset]]) -> str:
    parts = []
    for data in datasets:
        with open(data.path) as f:
            parts.append((data.metadata["x"], f.read()))
    return ",".join(f"{x}:{content}" for x, content in sorted(parts))


class LoopsOut(NamedTuple):
    squares: int
    weights: str
    datasets: str


@dsl.pipeline(name="engine-loops")
def loops_pipeline(side_dir: str, n: int = 3, pause: float = 1.0) -> LoopsOut:
    with dsl.ParallelFor([1, 2, 3, 4], parallelism=2) as x:
        squared = square(side_dir=side_dir, x=x, pause=pause)
        as_data = square_to_dataset(x=x)
    items = make_items(n=n)
    with dsl.ParallelFor(items.output, parallelism=3) as item:
        weighed = weigh(side_dir=side_dir, name=item.label, weight=item.weight)
    squares = total(values=dsl.Collected(squared.output))
    weights = join_sorted(values=dsl.Collected(weighed.output))
    datasets = read_all(datasets=dsl.Collected(as_data.outputs["out"]))
    return LoopsOut(squares=squares.output, weights=weights.output, datasets=datasets.output)


LOOP_PARALLELISM = 2
EXPECTED_SQUARES = 1 + 4 + 9 + 16
EXPECTED_WEIGHTS = "item-0=10,item-1=20,item-2=30"
EXPECTED_DATASETS = "1:1,2:4,3:9,4:16"


# --------------------------------------------------------------------------------------
# Exit handler, ignore_upstream_failure, .after().
# --------------------------------------------------------------------------------------


@dsl.component
def final_report(side_dir: str, status: dsl.PipelineTaskFinalStatus):
    import json
    import os

    with open(os.path.join(side_dir, "final-status.json"), "w") as f:
        json.dump(
            {
                "state": status.state,
                "error_code": status.error_code,
                "error_message": status.error_message,
                "job_resource_name": status.pipeline_job_resource_name,
                "task_name": status.pipeline_task_name,
            },
            f,
        )


@dsl.component
def work(side_dir: str, fail: bool) -> str:
    import os

    with open(os.path.join(side_dir, "work-ran"), "w") as f:
        f.write("ran")
    if fail:
        raise RuntimeError("work failed on purpose: marker-7f3a")
    return "worked"


@dsl.component
def after_work(side_dir: str, previous: str):
    import os

    with open(os.path.join(side_dir, "after-work-ran"), "w") as f:
        f.write(previous)


@dsl.pipeline(name="engine-exit-handler")
def exit_handler_pipeline(side_dir: str, fail: bool = False):
    notify = final_report(side_dir=side_dir)
    with dsl.ExitHandler(notify, name="guarded"):
        worked = work(side_dir=side_dir, fail=fail)
        after_work(side_dir=side_dir, previous=worked.output)


FAILURE_MARKER = "marker-7f3a"


@dsl.component
def cleanup(side_dir: str):
    import os

    with open(os.path.join(side_dir, "cleanup-ran"), "w") as f:
        f.write("yes")


@dsl.pipeline(name="engine-ignore-upstream-failure")
def ignore_failure_pipeline(side_dir: str):
    failing = work(side_dir=side_dir, fail=True)
    after_work(side_dir=side_dir, previous=failing.output)
    cleanup(side_dir=side_dir).after(failing).ignore_upstream_failure()


@dsl.component
def append_line(side_dir: str, line: str, require: str = ""):
    """Append ``line`` to ``order``; fail if ``require`` is not already there."""
    import os

    path = os.path.join(side_dir, "order")
    existing = []
    if os.path.exists(path):
        with open(path) as f:
            existing = f.read().split()
    if require and require not in existing:
        raise RuntimeError(f"{line} ran before {require}: {existing}")
    with open(path, "a") as f:
        f.write(line + "\n")


@dsl.pipeline(name="engine-after")
def after_pipeline(side_dir: str):
    first = append_line(side_dir=side_dir, line="first").set_display_name("first")
    second = (
        append_line(side_dir=side_dir, line="second", require="first")
        .set_display_name("second")
        .after(first)
    )
    append_line(side_dir=side_dir, line="third", require="second").set_display_name("third").after(
        second
    )


# --------------------------------------------------------------------------------------
# Retries, timeouts, failures, termination, caching, crash recovery.
# --------------------------------------------------------------------------------------


@dsl.component
def flaky(side_dir: str, name: str, fail_times: int) -> int:
    """Fail the first ``fail_times`` attempts (counted in a marker file), then succeed."""
    import os
    import time

    path = os.path.join(side_dir, f"attempts-{name}")
    with open(path, "a") as f:
        f.write(f"{time.time()}\n")
    with open(path) as f:
        attempt = len(f.read().splitlines())
    if attempt <= fail_times:
        raise RuntimeError(f"{name}: attempt {attempt} fails on purpose")
    return attempt


@dsl.pipeline(name="engine-retries")
def retries_pipeline(side_dir: str):
    flaky(side_dir=side_dir, name="recovers", fail_times=2).set_display_name("recovers").set_retry(
        num_retries=3, backoff_duration="1s", backoff_factor=2.0, backoff_max_duration="10s"
    )
    flaky(side_dir=side_dir, name="gives-up", fail_times=5).set_display_name("gives-up").set_retry(
        num_retries=1, backoff_duration="0s"
    )


RETRY_BACKOFF_SECONDS = (1.0, 2.0)


@dsl.component
def sleeper(side_dir: str, seconds: float):
    """Record its pid and a grandchild's pid, then sleep; writes ``done`` if not stopped."""
    import os
    import subprocess
    import time

    child = subprocess.Popen(["sleep", str(seconds + 30)])
    with open(os.path.join(side_dir, "sleeper-pids"), "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    print(f"sleeper started, pid {os.getpid()}", flush=True)
    time.sleep(seconds)
    with open(os.path.join(side_dir, "sleeper-done"), "w") as f:
        f.write("done")


#: The task timeout as kfp-kubernetes' ``set_timeout`` writes it in the platform spec.
TASK_TIMEOUT_SECONDS = 3


@dsl.pipeline(name="engine-timeout")
def timeout_pipeline(side_dir: str):
    task = sleeper(side_dir=side_dir, seconds=60.0)
    task.platform_config["kubernetes"] = {"activeDeadlineSeconds": str(TASK_TIMEOUT_SECONDS)}


@dsl.pipeline(name="engine-terminate")
def terminate_pipeline(side_dir: str):
    notify = final_report(side_dir=side_dir)
    with dsl.ExitHandler(notify):
        sleeper(side_dir=side_dir, seconds=120.0)


@dsl.pipeline(name="engine-failure")
def failure_pipeline(side_dir: str):
    failing = work(side_dir=side_dir, fail=True)
    after_work(side_dir=side_dir, previous=failing.output)


@dsl.component
def counted(side_dir: str, name: str, value: int, gate: str = "") -> int:
    """Append ``name`` to ``counter`` (one line per execution); fail while ``gate`` is absent."""
    import os

    with open(os.path.join(side_dir, "counter"), "a") as f:
        f.write(name + "\n")
    if gate and not os.path.exists(os.path.join(side_dir, gate)):
        raise RuntimeError(f"{name}: gate {gate} is closed")
    return value + 1


@dsl.pipeline(name="engine-retry-run")
def retry_run_pipeline(side_dir: str) -> int:
    a = counted(side_dir=side_dir, name="a", value=1).set_display_name("a")
    b = counted(side_dir=side_dir, name="b", value=a.output, gate="open").set_display_name("b")
    independent = counted(side_dir=side_dir, name="independent", value=0)
    independent.set_display_name("independent")
    c = counted(side_dir=side_dir, name="c", value=b.output).set_display_name("c")
    return c.output


@dsl.pipeline(name="engine-caching")
def caching_pipeline(side_dir: str, x: int, y: int) -> int:
    a = counted(side_dir=side_dir, name="a", value=x).set_display_name("a")
    b = add(a=a.output, b=y).set_display_name("b")
    c = counted(side_dir=side_dir, name="c", value=b.output).set_display_name("c")
    # Never cached while the run keeps the compiled caching options (enable_caching=None;
    # kfp.Client's enable_caching=True would switch it on with the other root tasks).
    counted(side_dir=side_dir, name="d", value=x).set_display_name("d").set_caching_options(False)
    return c.output


@dsl.component
def crash_step(side_dir: str, index: int, pause: float) -> int:
    """Record the start and the end of this step, around a pause."""
    import os
    import time

    path = os.path.join(side_dir, "counter")
    with open(path, "a") as f:
        f.write(f"start {index} {os.getpid()}\n")
    time.sleep(pause)
    with open(path, "a") as f:
        f.write(f"end {index} {os.getpid()}\n")
    return index + 1


CRASH_STEPS = 5


@dsl.pipeline(name="engine-crash")
def crash_pipeline(side_dir: str, pause: float = 1.0) -> int:
    previous = crash_step(side_dir=side_dir, index=1, pause=pause).set_display_name("step-1")
    for index in range(2, CRASH_STEPS + 1):
        previous = crash_step(side_dir=side_dir, index=previous.output, pause=pause)
        previous.set_display_name(f"step-{index}")
    return previous.output
