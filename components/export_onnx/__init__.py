from mlrail.components.export_onnx.component import export_onnx

__all__ = ["export_onnx"]
