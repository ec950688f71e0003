"""Container components with placeholders and output paths."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output, OutputPath


@dsl.container_component
def fetch_text(url: str, body: Output[Dataset], status: OutputPath(str)) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="alpine:3.19",
        command=["sh", "-c"],
        args=[dsl.ConcatPlaceholder(["wget -qO ", body.path, " ", url, " && echo ok > ", status])],
    )


@dsl.container_component
def word_count(
    text: Input[Dataset], total: OutputPath(int), mode: str = "words", header: str = ""
) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["/bin/sh", "-c", 'wc "$0" "$1" > "$2"'],
        args=[
            text.path,
            mode,
            total,
            dsl.IfPresentPlaceholder(
                input_name="header", then=["--header", header], else_=["--no-header"]
            ),
        ],
    )


@dsl.container_component
def echo_value(value: int, job: str = dsl.PIPELINE_JOB_NAME_PLACEHOLDER) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["echo"],
        args=[value, job, dsl.PIPELINE_TASK_NAME_PLACEHOLDER],
    )


@dsl.pipeline(name="container-steps")
def container_steps(url: str = "http://example.test/data.txt") -> None:
    fetched = fetch_text(url=url)
    counted = word_count(text=fetched.outputs["body"], header="lines")
    echo_value(value=counted.outputs["total"])


PIPELINE = container_steps
