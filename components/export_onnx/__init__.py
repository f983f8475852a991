"""The export_onnx component; its logic is in :mod:`mlrail.components.export_onnx.core`."""

from typing import Any

__all__ = ["export_onnx"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator.
    if name == "export_onnx":
        from mlrail.components.export_onnx.component import export_onnx

        return export_onnx
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
