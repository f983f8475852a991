"""The plan component; its logic is in :mod:`mlrail.components.plan.core`."""

from typing import Any

__all__ = ["plan"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "plan":
        from mlrail.components.plan.component import plan

        return plan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
