"""The notify component; its logic is in :mod:`mlrail.components.notify.core`."""

from typing import Any

__all__ = ["notify"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "notify":
        from mlrail.components.notify.component import notify

        return notify
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
