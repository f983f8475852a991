"""The monitor component; its logic is in :mod:`mlrail.components.monitor.core`."""

from typing import Any

__all__ = ["monitor"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "monitor":
        from mlrail.components.monitor.component import monitor

        return monitor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
