"""The deploy component; its logic is in :mod:`mlrail.components.deploy.core`."""

from typing import Any

__all__ = ["deploy"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "deploy":
        from mlrail.components.deploy.component import deploy

        return deploy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
