"""Sub-pipelines with artifact inputs, called inside conditions and loops; OneOf on artifacts."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output


@dsl.component(base_image="python:3.11-slim")
def draw(n: int, sample: Output[Dataset]) -> int:
    with open(sample.path, "w") as fh:
        fh.write("x" * n)
    return n


@dsl.component(base_image="python:3.11-slim")
def train_small(sample: Input[Dataset], model: Output[Model]) -> None:
    with open(model.path, "w") as fh:
        fh.write("small:" + sample.uri)


@dsl.component(base_image="python:3.11-slim")
def train_large(sample: Input[Dataset], model: Output[Model], epochs: int = 10) -> None:
    with open(model.path, "w") as fh:
        fh.write(f"large:{epochs}:{sample.uri}")


@dsl.component(base_image="python:3.11-slim")
def evaluate(model: Input[Model], tag: str) -> float:
    return float(len(model.uri + tag))


@dsl.pipeline
def pick_model(sample: Input[Dataset], size: int, cutoff: int = 100) -> Model:
    with dsl.If(size < cutoff):
        small = train_small(sample=sample)
    with dsl.Else():
        large = train_large(sample=sample, epochs=3)
    return dsl.OneOf(small.outputs["model"], large.outputs["model"])


@dsl.pipeline
def evaluate_many(model: Input[Model], tags: list) -> None:
    with dsl.ParallelFor(tags, parallelism=3) as tag:
        evaluate(model=model, tag=tag)


@dsl.pipeline(name="composed-graphs")
def composed_graphs(
    n: int = 50,
    tags: list = ["dev", "prod"],  # noqa: B006 - KFP reads defaults from the signature
    run_eval: bool = True,
) -> Model:
    drawn = draw(n=n)
    picked = pick_model(sample=drawn.outputs["sample"], size=drawn.outputs["Output"])
    with dsl.If(run_eval == True):  # noqa: E712 - the DSL needs the comparison expression
        evaluate_many(model=picked.output, tags=tags)
    return picked.output


PIPELINE = composed_graphs
