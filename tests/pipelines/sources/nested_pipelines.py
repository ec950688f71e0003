"""Pipelines used as components, two levels deep, with parameter and artifact outputs."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Output


@dsl.component(base_image="python:3.11-slim")
def make_data(seed: int, data: Output[Dataset]) -> None:
    with open(data.path, "w") as fh:
        fh.write(str(seed))


@dsl.component(base_image="python:3.11-slim")
def digest(data: Input[Dataset]) -> NamedTuple("Digest", [("size", int), ("name", str)]):
    from collections import namedtuple

    with open(data.path) as fh:
        text = fh.read()
    return namedtuple("Digest", ["size", "name"])(len(text), data.name)


@dsl.component(base_image="python:3.11-slim")
def add(a: int, b: int) -> int:
    return a + b


class InnerOutputs(NamedTuple):
    size: int
    data: Dataset


@dsl.pipeline
def inner(seed: int) -> InnerOutputs:
    made = make_data(seed=seed)
    dig = digest(data=made.outputs["data"])
    return InnerOutputs(size=dig.outputs["size"], data=made.outputs["data"])


@dsl.pipeline
def middle(seed: int, bump: int = 1) -> int:
    first = inner(seed=seed)
    second = inner(seed=seed).after(first)
    summed = add(a=first.outputs["size"], b=second.outputs["size"])
    return add(a=summed.output, b=bump).output


@dsl.pipeline(name="nested-pipelines", display_name="Nested pipelines")
def nested_pipelines(seed: int = 7) -> int:
    mid = middle(seed=seed)
    mid.set_display_name("middle layer")
    again = digest(data=inner(seed=seed).outputs["data"])
    return add(a=mid.output, b=again.outputs["size"]).output


PIPELINE = nested_pipelines
