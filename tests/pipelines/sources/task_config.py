"""A component receiving its own task configuration (TASK_CONFIG parameter type)."""

from kfp import dsl


@dsl.component(
    base_image="python:3.11-slim",
    task_config_passthroughs=[
        dsl.TaskConfigField.RESOURCES,
        dsl.TaskConfigPassthrough(field=dsl.TaskConfigField.ENV, apply_to_task=True),
    ],
)
def launch(workers: int, config: dsl.TaskConfig) -> str:
    return f"{workers} {config.resources} {config.env}"


@dsl.pipeline(name="task-config")
def task_config(workers: int = 2) -> None:
    task = launch(workers=workers)
    task.set_cpu_limit("1").set_memory_limit("1Gi")
    task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit("1")
    task.set_env_variable("WORKERS", "2")


PIPELINE = task_config
