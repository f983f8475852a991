"""The register component; its logic is in :mod:`mlrail.components.register.core`."""

from typing import Any

__all__ = ["register"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "register":
        from mlrail.components.register.component import register

        return register
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
