"""Parameters of every scalar/collection type, with and without defaults, plus task settings."""

from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def shape_values(
    label: str,
    count: int,
    ratio: float,
    enabled: bool,
    tags: list,
    options: dict,
    suffix: str = "-x",
    step: int = 3,
    scale: float = 0.5,
    verbose: bool = False,
    extra_tags: list = ["a", "b"],  # noqa: B006 - KFP reads defaults from the signature
    extra_opts: dict = {"k": 1},  # noqa: B006
) -> str:
    parts = [label + suffix, str(count * step), str(ratio * scale), str(enabled or verbose)]
    parts += [str(t) for t in tags + extra_tags]
    parts += sorted({**options, **extra_opts})
    return ",".join(parts)


@dsl.component(base_image="python:3.11-slim")
def measure(text: str) -> int:
    return len(text)


@dsl.component(base_image="python:3.11-slim")
def halve(value: int) -> float:
    return value / 2


@dsl.component(base_image="python:3.11-slim")
def is_long(length: float, limit: float = 10.0) -> bool:
    return length > limit


@dsl.component(base_image="python:3.11-slim")
def announce(flag: bool, note: str = "done") -> None:
    print(note, flag)


@dsl.pipeline(name="scalar-params", description="every parameter type and task setting")
def scalar_params(
    label: str = "run",
    count: int = 4,
    ratio: float = 1.25,
    enabled: bool = True,
    tags: list = ["x", "y"],  # noqa: B006 - KFP reads defaults from the signature
    options: dict = {"depth": 2, "mode": "fast"},  # noqa: B006
) -> None:
    shaped = shape_values(
        label=label, count=count, ratio=ratio, enabled=enabled, tags=tags, options=options
    )
    shaped.set_display_name("Shape all the values")
    shaped.set_caching_options(False)
    shaped.set_cpu_limit("500m").set_memory_limit("256Mi")
    shaped.set_cpu_request("100m").set_memory_request("64Mi")
    shaped.set_env_variable("SHAPE_MODE", "strict")
    shaped.set_retry(num_retries=3, backoff_duration="5s", backoff_factor=2.0)
    size = measure(text=shaped.output)
    half = halve(value=size.output).set_retry(num_retries=1)
    flagged = is_long(length=half.output)
    final = announce(flag=flagged.output)
    final.after(shaped)


PIPELINE = scalar_params
