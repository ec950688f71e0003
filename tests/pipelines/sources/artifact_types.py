"""Artifacts of every builtin type passed between Python components; pip options."""

from kfp import dsl
from kfp.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    InputPath,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
)


@dsl.component(
    base_image="python:3.11-slim",
    packages_to_install=["numpy<3", "pandas"],
    pip_index_urls=["https://pypi.org/simple", "https://mirror.example.test/simple"],
)
def build_table(rows: int, table: Output[Dataset], notes: Output[Artifact]) -> None:
    with open(table.path, "w") as fh:
        for i in range(rows):
            fh.write(f"{i},{i * i}\n")
    table.metadata["rows"] = rows
    with open(notes.path, "w") as fh:
        fh.write("generated")


@dsl.component(base_image="python:3.11-slim", packages_to_install=["scikit-learn"])
def fit(
    table: Input[Dataset],
    model: Output[Model],
    scores: Output[Metrics],
    confusion: Output[ClassificationMetrics],
    learning_rate: float = 0.1,
) -> None:
    with open(table.path) as fh:
        n = len(fh.readlines())
    with open(model.path, "w") as fh:
        fh.write(f"lr={learning_rate} n={n}")
    scores.log_metric("accuracy", 0.9)
    confusion.log_confusion_matrix(["a", "b"], [[3, 1], [0, 4]])


@dsl.component(base_image="python:3.11-slim")
def report(model: Input[Model], page: Output[HTML], summary: Output[Markdown]) -> str:
    with open(model.path) as fh:
        body = fh.read()
    with open(page.path, "w") as fh:
        fh.write(f"<p>{body}</p>")
    with open(summary.path, "w") as fh:
        fh.write(f"# Model\n{body}")
    return body


@dsl.component(base_image="python:3.11-slim")
def copy_file(source: InputPath("Dataset"), target: OutputPath("Dataset")) -> None:
    import shutil

    shutil.copy(source, target)


@dsl.component(base_image="python:3.11-slim")
def inspect_any(thing: Input[Artifact], pages: Input[HTML]) -> None:
    print(thing.uri, pages.uri)


@dsl.pipeline(name="artifact-types")
def artifact_types(rows: int = 5) -> Model:
    built = build_table(rows=rows)
    trained = fit(table=built.outputs["table"])
    shown = report(model=trained.outputs["model"])
    copy_file(source=built.outputs["table"])
    inspect_any(thing=built.outputs["notes"], pages=shown.outputs["page"])
    return trained.outputs["model"]


PIPELINE = artifact_types
