"""The ingest component; its logic is in :mod:`mlrail.components.ingest.core`."""

from typing import Any

__all__ = ["ingest"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "ingest":
        from mlrail.components.ingest.component import ingest

        return ingest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
