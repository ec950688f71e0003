"""If / Elif / Else, the legacy Condition, nested conditions and OneOf."""

from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def roll(sides: int) -> int:
    import random

    return random.randint(1, sides)


@dsl.component(base_image="python:3.11-slim")
def say(text: str) -> str:
    print(text)
    return text


@dsl.component(base_image="python:3.11-slim")
def shout(text: str) -> str:
    return text.upper()


@dsl.pipeline(name="branches")
def branches(sides: int = 6, threshold: int = 3) -> str:
    rolled = roll(sides=sides)
    with dsl.If(rolled.output > threshold, name="high"):
        high = say(text="high")
        with dsl.If(rolled.output == sides):
            say(text="maximum")
    with dsl.Elif(rolled.output == threshold):
        mid = shout(text="equal")
    with dsl.Else():
        low = say(text="low")
    with dsl.Condition(rolled.output != 0, name="legacy-condition"):
        say(text="legacy")
    return dsl.OneOf(high.output, mid.output, low.output)


PIPELINE = branches
