"""ParallelFor over literals, dicts, pipeline parameters and task outputs; nesting and fan-in."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output


@dsl.component(base_image="python:3.11-slim")
def square(x: int) -> int:
    return x * x


@dsl.component(base_image="python:3.11-slim")
def pair(a: str, b: int) -> str:
    return f"{a}:{b}"


@dsl.component(base_image="python:3.11-slim")
def join_two(a: str, b: str) -> str:
    return a + b


@dsl.component(base_image="python:3.11-slim")
def total(values: list) -> int:
    return sum(values)


@dsl.component(base_image="python:3.11-slim")
def list_names(prefix: str) -> list:
    return [f"{prefix}{i}" for i in range(3)]


@dsl.component(base_image="python:3.11-slim")
def write_shard(name: str, shard: Output[Dataset]) -> None:
    with open(shard.path, "w") as fh:
        fh.write(name)


@dsl.component(base_image="python:3.11-slim")
def merge_shards(shards: Input[list[Dataset]]) -> str:
    return ",".join(s.uri for s in shards)


@dsl.pipeline(name="loops")
def loops(
    numbers: list = [1, 2, 3],  # noqa: B006 - KFP reads defaults from the signature
    letters: list = ["p", "q"],  # noqa: B006
    prefix: str = "n",
) -> int:
    with dsl.ParallelFor([2, 4, 6]) as literal:
        square(x=literal)
    with dsl.ParallelFor(numbers, parallelism=2) as number:
        squared = square(x=number)
        with dsl.ParallelFor(letters, name="inner-letters") as letter:
            pair(a=letter, b=number)
    with dsl.ParallelFor([{"a": "u", "b": "1"}, {"a": "v", "b": "2"}]) as record:
        join_two(a=record.a, b=record.b)
    names = list_names(prefix=prefix)
    with dsl.ParallelFor(names.output) as name:
        shard = write_shard(name=name)
    merge_shards(shards=dsl.Collected(shard.outputs["shard"]))
    summed = total(values=dsl.Collected(squared.output))
    return summed.output


PIPELINE = loops
