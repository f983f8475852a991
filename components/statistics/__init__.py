"""The statistics component; its logic is in :mod:`mlrail.components.statistics.core`."""

from typing import Any

__all__ = ["statistics"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "statistics":
        from mlrail.components.statistics.component import statistics

        return statistics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
