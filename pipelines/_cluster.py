"""What every step of mlrail's pipelines needs on a cluster, in one place: resources, a non-root
security context, and the object-store and MLflow Secrets as environment variables.

kfp.local ignores all of it; the compiled IR carries it to the cluster.
"""

from __future__ import annotations

from kfp import dsl, kubernetes

from mlrail.components.notify import notify

__all__ = [
    "MLFLOW_KEYS",
    "OBJECT_STORE_KEYS",
    "UID",
    "mlflow",
    "notifier",
    "object_store",
    "on_cluster",
]

#: The component image's non-root user (images/component.Containerfile).
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


def object_store(task: dsl.PipelineTask, secret: str) -> None:
    """Object-store credentials as env, for a step that may open a user's s3:// URI."""
    kubernetes.use_secret_as_env(
        task, secret_name=secret, secret_key_to_env=OBJECT_STORE_KEYS, optional=True
    )


def mlflow(task: dsl.PipelineTask, secret: str) -> None:
    """The registry's URI and credentials as env (optional: absent means registry_uri only)."""
    kubernetes.use_secret_as_env(
        task, secret_name=secret, secret_key_to_env=MLFLOW_KEYS, optional=True
    )


def on_cluster(task: dsl.PipelineTask, cpu: str, memory: str) -> dsl.PipelineTask:
    """Resources (request = limit) and a non-root security context for one step."""
    task.set_cpu_request(cpu).set_cpu_limit(cpu).set_memory_request(memory).set_memory_limit(memory)
    # the compiler adds no-privilege-escalation, drop-ALL and RuntimeDefault seccomp itself
    return kubernetes.set_security_context(
        task, run_as_user=UID, run_as_group=UID, run_as_non_root=True
    )


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
    return on_cluster(task, "100m", "256M").set_caching_options(False)
