"""The train component; its logic is in :mod:`mlrail.components.train.core`."""

from typing import Any

__all__ = ["train"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "train":
        from mlrail.components.train.component import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
