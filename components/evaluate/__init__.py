"""The evaluate component; its logic is in :mod:`mlrail.components.evaluate.core`."""

from typing import Any

__all__ = ["evaluate"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "evaluate":
        from mlrail.components.evaluate.component import evaluate

        return evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
