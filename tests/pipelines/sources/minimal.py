"""The smallest useful pipeline: one task, no inputs."""

from kfp import dsl


@dsl.component(base_image="python:3.12-slim")
def ping() -> None:
    print("pong")


@dsl.pipeline(name="minimal")
def minimal() -> None:
    ping()


PIPELINE = minimal
