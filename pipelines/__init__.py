"""mlrail's KFP pipelines, one module per pipeline."""
