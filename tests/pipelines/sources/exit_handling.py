"""ExitHandler with a PipelineTaskFinalStatus task, and ignore_upstream_failure."""

from kfp import dsl
from kfp.dsl import PipelineTaskFinalStatus


@dsl.component(base_image="python:3.11-slim")
def risky(fail: bool) -> str:
    if fail:
        raise RuntimeError("asked to fail")
    return "fine"


@dsl.component(base_image="python:3.11-slim")
def cleanup(status: PipelineTaskFinalStatus, note: str = "") -> None:
    print(status.state, status.pipeline_job_resource_name, status.error_message, note)


@dsl.component(base_image="python:3.11-slim")
def tidy(result: str = "missing") -> None:
    print(result)


@dsl.pipeline(name="exit-handling")
def exit_handling(fail: bool = False) -> None:
    guard = cleanup(note="exit")
    with dsl.ExitHandler(exit_task=guard, name="guarded"):
        first = risky(fail=fail)
        risky(fail=False).after(first)
        tidy(result=first.output).ignore_upstream_failure()


PIPELINE = exit_handling
