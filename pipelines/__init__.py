"""mlrail's KFP pipelines, one module per pipeline, and :func:`cluster_settings`, what every
step needs on a cluster (resources, a non-root user, the object-store and MLflow Secrets), for
mlrail's pipelines and a user's own."""

from mlrail.pipelines._cluster import cluster_settings

__all__ = ["cluster_settings"]
