"""The validate component; its logic is in :mod:`mlrail.components.validate.core`."""

from typing import Any

__all__ = ["validate"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "validate":
        from mlrail.components.validate.component import validate

        return validate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
