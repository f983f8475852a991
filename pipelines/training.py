"""The training pipeline: from a data file to a deployed ONNX model, with two gates.

    ingest → validate → (ok?) train → evaluate → (blessed?) export_onnx → deploy

Two gates: no training on data with anomalies, and no export or deploy of a model that is not
blessed. export_onnx fails the run (and so blocks deploy) when ONNX Runtime does not match the
SavedModel on every eval row.
"""

from kfp import dsl, kubernetes

from mlrail.components.deploy import deploy
from mlrail.components.evaluate import evaluate
from mlrail.components.export_onnx import export_onnx
from mlrail.components.ingest import ingest
from mlrail.components.train import train
from mlrail.components.validate import validate

__all__ = ["training"]

# Requests and limits per step on the cluster (kfp.local ignores them).
_RESOURCES = {
    "ingest": ("1", "2G"),
    "validate": ("1", "2G"),
    "train": ("2", "4G"),
    "evaluate": ("1", "2G"),
    "export_onnx": ("1", "4G"),
    "deploy": ("500m", "1G"),
}
#: The component image's non-root user (images/component.Containerfile).
_UID = 10001
#: Keys of the object-store Secret, read by the steps that open user URIs (s3://, MinIO).
_OBJECT_STORE_KEYS = {
    "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL",
}


def _on_cluster(task: dsl.PipelineTask, step: str) -> dsl.PipelineTask:
    """Resources and a non-root security context, the same for every step."""
    cpu, memory = _RESOURCES[step]
    task.set_cpu_request(cpu).set_cpu_limit(cpu).set_memory_request(memory).set_memory_limit(memory)
    # the compiler adds no-privilege-escalation, drop-ALL and RuntimeDefault seccomp itself
    return kubernetes.set_security_context(
        task, run_as_user=_UID, run_as_group=_UID, run_as_non_root=True
    )


@dsl.pipeline(name="training", description="From a data file to a served ONNX model, gated.")
def training(
    source: str = "bundled:penguins",
    label: str = "species",
    task: str = "auto",
    eval_ratio: float = 0.2,
    test_ratio: float = 0.0,
    key_column: str = "",
    span_date: str = "",
    object_store_secret: str = "mlrail-object-store",
    curated_schema: str = "",
    min_examples: int = 1,
    hparams: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
    train_node_selector: dict = {},  # noqa: B006
    train_tolerations: list = [],  # noqa: B006
    thresholds: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
    parity_tolerance: float = 1e-4,
    opset: int = 17,
    optimize: bool = False,
    quantize: bool = False,
    max_accuracy_drop: float = 0.01,
    max_rmse_increase: float = 0.01,
    model_name: str = "penguins",
    deploy_target: str = "render",
    model_repository: str = "",
    namespace: str = "mlrail",
    runtime: str = "mlrail-onnx",
    deployment_mode: str = "Serverless",
    canary_traffic_percent: int = 0,
    min_replicas: int = 1,
    max_replicas: int = 1,
    serving_cpu: str = "500m",
    serving_memory: str = "512Mi",
    deploy_timeout_seconds: int = 600,
    ingress_url: str = "",
):
    """Trains, checks and deploys a model for one label of one tabular data file.

    Args:
        source: CSV or Parquet file: a path, an s3:// or gs:// URI, or bundled:penguins.
        label: The column to predict.
        task: auto, binary, multiclass or regression.
        eval_ratio: Share of rows held out for evaluation.
        test_ratio: Share of rows held out in a test split no step reads (0 for none).
        key_column: Column whose hash decides the split; empty to hash the whole row.
        span_date: YYYY-MM-DD filling a {YYYY}/{MM}/{DD} pattern in ``source``; empty to use
            the recurring run's scheduled time.
        object_store_secret: Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
            AWS_ENDPOINT_URL for s3:// sources (optional: absent means no credentials).
        curated_schema: Path or URI of a schema.pbtxt to validate against; empty to infer one.
        min_examples: Fewest rows a split may have before validation flags it.
        hparams: Training hyperparameters (epochs, batch_size, learning_rate, hidden_units,
            dropout, seed).
        train_node_selector: Node labels for the train step, e.g. a GPU node pool.
        train_tolerations: Tolerations for the train step, e.g. of a GPU node taint.
        thresholds: Metric bounds for the blessing, e.g. {"accuracy": ">= 0.9"}.
        parity_tolerance: Absolute part of the ONNX Runtime vs SavedModel bound per value.
        opset: ONNX opset to convert to.
        optimize: Also write an ONNX Runtime-optimised graph, kept if within its accuracy gate.
        quantize: Also write a dynamically int8-quantised model, kept if within its gate.
        max_accuracy_drop: Classifier variants: most accuracy (and share of changed labels)
            a variant may lose against the plain ONNX model.
        max_rmse_increase: Regression variants: most relative RMSE increase allowed.
        model_name: Name of the model in the repository and of the InferenceService.
        deploy_target: local (a local model repository), render (write the InferenceService
            manifest) or kserve (apply it, wait for Ready, smoke-test, canary).
        model_repository: Folder of the local model repository (deploy_target local).
        namespace: Namespace of the InferenceService (render, kserve).
        runtime: mlrail-onnx or kserve-tritonserver (render, kserve).
        deployment_mode: Serverless or RawDeployment (kserve).
        canary_traffic_percent: 1-99 to roll out to that share first, smoke-test, then promote
            or roll back; 0 for a full rollout (kserve, Serverless only).
        min_replicas: Fewest predictor replicas (render, kserve).
        max_replicas: Most predictor replicas (render, kserve).
        serving_cpu: CPU request and limit of each predictor replica.
        serving_memory: Memory request and limit of each predictor replica.
        deploy_timeout_seconds: How long to wait for Ready before rolling back (kserve).
        ingress_url: Send the smoke test through this gateway with the service's Host header
            instead of to the service's own URL (kserve).
    """
    # Retries are for a flaky object store; KFP cannot tell them from bad data, which fails
    # every time, so they stay short: at most 10 + 20 s lost on a file that will never parse.
    ingest_task = _on_cluster(
        ingest(
            source=source,
            eval_ratio=eval_ratio,
            test_ratio=test_ratio,
            key_column=key_column,
            span_date=span_date,
            scheduled_time=dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
        ),
        "ingest",
    ).set_retry(num_retries=2, backoff_duration="10s", backoff_factor=2.0)
    validate_task = _on_cluster(
        validate(
            examples=ingest_task.outputs["examples"],
            curated_schema=curated_schema,
            min_examples=min_examples,
        ),
        "validate",
    )
    for reader in (ingest_task, validate_task):  # the two steps that open user URIs
        kubernetes.use_secret_as_env(
            reader,
            secret_name=object_store_secret,
            secret_key_to_env=_OBJECT_STORE_KEYS,
            optional=True,
        )
    with dsl.If(validate_task.outputs["Output"] == True, name="data-ok"):  # noqa: E712 (KFP condition)
        train_task = _on_cluster(
            train(
                examples=ingest_task.outputs["examples"],
                schema=validate_task.outputs["schema"],
                statistics=validate_task.outputs["statistics"],
                label=label,
                task=task,
                hparams=hparams,
            ),
            "train",
        )
        kubernetes.add_node_selector_json(train_task, train_node_selector)
        kubernetes.add_toleration_json(train_task, train_tolerations)
        evaluate_task = _on_cluster(
            evaluate(
                model=train_task.outputs["model"],
                examples=ingest_task.outputs["examples"],
                thresholds=thresholds,
            ),
            "evaluate",
        )
        with dsl.If(evaluate_task.outputs["Output"] == True, name="model-blessed"):  # noqa: E712
            export_task = _on_cluster(
                export_onnx(
                    model=train_task.outputs["model"],
                    examples=ingest_task.outputs["examples"],
                    model_name=model_name,
                    tolerance=parity_tolerance,
                    opset=opset,
                    optimize=optimize,
                    quantize=quantize,
                    max_accuracy_drop=max_accuracy_drop,
                    max_rmse_increase=max_rmse_increase,
                ),
                "export_onnx",
            ).set_caching_options(False)
            _on_cluster(
                deploy(
                    onnx_model=export_task.outputs["onnx_model"],
                    target=deploy_target,
                    model_name=model_name,
                    model_repository=model_repository,
                    namespace=namespace,
                    runtime=runtime,
                    deployment_mode=deployment_mode,
                    canary_traffic_percent=canary_traffic_percent,
                    min_replicas=min_replicas,
                    max_replicas=max_replicas,
                    cpu=serving_cpu,
                    memory=serving_memory,
                    timeout_seconds=deploy_timeout_seconds,
                    ingress_url=ingress_url,
                ),
                "deploy",
            ).set_caching_options(False)
