"""What every step of a pipeline needs on a cluster, in one call: :func:`cluster_settings`.

mlrail's pipelines apply it to each task, and so can a user's own pipeline, whether its tasks
come from mlrail's component functions or from the component YAMLs
(``components/<name>/component.yaml``, loaded with
``kfp.components.load_component_from_file``)::

    from mlrail.pipelines import cluster_settings

    task = cluster_settings(
        ingest(source="s3://bucket/penguins.csv"),
        cpu="1",
        memory="2G",
        object_store_secret="mlpipeline-minio-artifact",
    )

kfp.local ignores all of it; the compiled IR carries it to the cluster.
"""

from __future__ import annotations

from typing import TypeAlias

from kfp import dsl, kubernetes
from kfp.dsl import pipeline_channel

from mlrail.components.notify import notify

__all__ = [
    "MLFLOW_KEYS",
    "OBJECT_STORE_KEYS",
    "UID",
    "cluster_settings",
    "notifier",
]

#: The component image's non-root user and group (images/component.Containerfile).
UID = 10001
#: Keys of the object-store Secret, read by the steps that open user URIs (s3://, MinIO).
OBJECT_STORE_KEYS = {
    "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL",
}
#: Keys of the MLflow Secret: MLflow's own variables, each under its own name.
MLFLOW_KEYS = {
    key: key
    for key in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_SERVER_CERT_PATH",
        "MLFLOW_S3_ENDPOINT_URL",
    )
}

# A Secret's name as a literal or as a pipeline parameter (the run names it).
_SecretName: TypeAlias = str | pipeline_channel.PipelineParameterChannel


def cluster_settings(
    task: dsl.PipelineTask,
    cpu: str,
    memory: str,
    *,
    object_store_secret: _SecretName | None = None,
    mlflow_secret: _SecretName | None = None,
) -> dsl.PipelineTask:
    """Applies what an mlrail step needs on a Kubernetes cluster to one task.

    - Resources: ``cpu`` and ``memory`` as both request and limit.
    - Security context: the component image's non-root user and group (:data:`UID`, 10001)
      and ``runAsNonRoot``, which Pod Security "restricted" requires (KFP 2.17 adds no
      privilege escalation, all capabilities dropped and the RuntimeDefault seccomp profile to
      every step itself).
    - The object-store Secret, if named: its keys ``AWS_ACCESS_KEY_ID``,
      ``AWS_SECRET_ACCESS_KEY`` and ``AWS_ENDPOINT_URL`` as environment variables of the same
      names, for a step that opens an s3:// URI (KFP's own MinIO Secret,
      ``mlpipeline-minio-artifact``, has the first two).
    - The MLflow Secret, if named: ``MLFLOW_TRACKING_URI`` and MLflow's credential variables
      (:data:`MLFLOW_KEYS`), each under its own name, for evaluate, register, deploy and
      monitor.

    Both Secrets are optional: a Secret or key that does not exist sets no variable, and the
    step runs without it.

    Args:
        task: A task of the pipeline, e.g. ``ingest(source=...)``.
        cpu: CPU request and limit, e.g. ``"1"`` or ``"500m"``.
        memory: Memory request and limit, e.g. ``"2G"``.
        object_store_secret: Name of the object store's Secret, a literal or a pipeline
            parameter; None: no object-store credentials.
        mlflow_secret: Name of the MLflow Secret, a literal or a pipeline parameter; None: no
            MLflow variables.

    Returns:
        The task, for chaining (``cluster_settings(...).set_caching_options(False)``).
    """
    task.set_cpu_request(cpu).set_cpu_limit(cpu).set_memory_request(memory).set_memory_limit(memory)
    kubernetes.set_security_context(task, run_as_user=UID, run_as_group=UID, run_as_non_root=True)
    if object_store_secret is not None:
        kubernetes.use_secret_as_env(
            task,
            secret_name=object_store_secret,
            secret_key_to_env=OBJECT_STORE_KEYS,
            optional=True,
        )
    if mlflow_secret is not None:
        kubernetes.use_secret_as_env(
            task, secret_name=mlflow_secret, secret_key_to_env=MLFLOW_KEYS, optional=True
        )
    return task


def notifier(pipeline: str, model_name: str, events_sink: str) -> dsl.PipelineTask:
    """The exit handler's task: after every step, whether the run succeeded, failed or stopped
    at a gate, it sends the final status (io.mlrail.run.succeeded / run.failed), so a failed run
    is heard. Never cached: each run's end is its own."""
    task = notify(
        events_sink=events_sink,
        model_name=model_name,
        pipeline_name=pipeline,
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    )
    return cluster_settings(task, "100m", "256M").set_caching_options(False)
