"""A small compiled pipeline for the client tests, independent of mlrail's own pipelines.

Its parameters cover every parameter type, it has a task under ``dsl.If`` (a nested DAG, where
caching overrides are easy to miss), and its description is a knob: two descriptions give two
packages with different bytes, i.e. two versions of the same pipeline.
"""

# No `from __future__ import annotations`: KFP reads the component's annotations as types.
from pathlib import Path

from kfp import compiler, dsl

__all__ = ["PIPELINE_NAME", "compile_tiny_pipeline"]

PIPELINE_NAME = "tiny"


@dsl.component(base_image="python:3.11-slim", install_kfp_package=False)
def echo(message: str, times: int = 1) -> str:
    """Repeats a message (never run by these tests)."""
    return message * times


def compile_tiny_pipeline(
    path: Path, *, description: str = "v1", required_parameter: bool = False
) -> Path:
    """Compiles the tiny pipeline to ``path`` and returns it.

    Args:
        path: Where to write the IR YAML.
        description: The pipeline description; change it to get different package bytes.
        required_parameter: Add a parameter ``who`` without a default.

    Returns:
        The path written.
    """
    if required_parameter:

        @dsl.pipeline(name=PIPELINE_NAME, description=description)
        def tiny_required(who: str, greeting: str = "hello") -> None:
            echo(message=who)
            echo(message=greeting)

        pipeline = tiny_required
    else:

        @dsl.pipeline(name=PIPELINE_NAME, description=description)
        def tiny(
            greeting: str = "hello",
            times: int = 1,
            ratio: float = 0.5,
            loud: bool = False,
            options: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
            tags: list = [],  # noqa: B006 (a literal in the IR; never mutated)
        ) -> None:
            first = echo(message=greeting, times=times)
            with dsl.If(loud == True, name="loud"):  # noqa: E712 (a KFP condition)
                echo(message=first.output)

        pipeline = tiny
    compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(path))
    return path
