from mlrail.components.ingest.component import ingest

__all__ = ["ingest"]
