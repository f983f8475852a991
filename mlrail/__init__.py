"""mlrail: TFX-style Kubeflow Pipelines components from a data file to a served ONNX model."""

__version__ = "0.1.0"
