"""The merge component; its logic is in :mod:`mlrail.components.merge.core`."""

from typing import Any

__all__ = ["merge"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "merge":
        from mlrail.components.merge.component import merge

        return merge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
