"""dsl.importer with a constant URI and with a pipeline-parameter URI."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model


@dsl.component(base_image="python:3.11-slim")
def peek(data: Input[Dataset], weights: Input[Model]) -> str:
    return f"{data.uri} {weights.uri} {weights.metadata}"


@dsl.pipeline(name="importing")
def importing(weights_uri: str = "gs://bucket/models/m1", tag: str = "v1") -> None:
    data = dsl.importer(
        artifact_uri="gs://bucket/data/table.csv",
        artifact_class=Dataset,
        reimport=False,
        metadata={"source": "fixed"},
    )
    weights = dsl.importer(
        artifact_uri=weights_uri,
        artifact_class=Model,
        reimport=True,
        metadata={"tag": tag},
    )
    peek(data=data.output, weights=weights.output)


PIPELINE = importing
