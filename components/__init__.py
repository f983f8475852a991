"""mlrail's KFP components: ingest, validate, train, evaluate, export_onnx, deploy."""
