"""Control flow combined: a condition inside a loop inside an exit handler, artifacts across."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output, PipelineTaskFinalStatus


@dsl.component(base_image="python:3.11-slim")
def seed_data(out: Output[Dataset]) -> None:
    with open(out.path, "w") as fh:
        fh.write("1\n2\n3\n")


@dsl.component(base_image="python:3.11-slim")
def score(data: Input[Dataset], weight: float) -> float:
    with open(data.path) as fh:
        return weight * len(fh.readlines())


@dsl.component(base_image="python:3.11-slim")
def keep(value: float) -> str:
    return f"kept {value}"


@dsl.component(base_image="python:3.11-slim")
def final_report(status: PipelineTaskFinalStatus) -> None:
    print(status.state)


@dsl.pipeline(name="mixed-control")
def mixed_control(
    weights: list = [0.5, 1.5, 2.5],  # noqa: B006 - KFP reads defaults from the signature
    cutoff: float = 2.0,
) -> None:
    reporter = final_report()
    with dsl.ExitHandler(reporter):
        data = seed_data()
        with dsl.ParallelFor(weights, parallelism=1) as w:
            scored = score(data=data.outputs["out"], weight=w)
            with dsl.If(scored.output > cutoff):
                keep(value=scored.output)


PIPELINE = mixed_control
