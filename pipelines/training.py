"""The training pipeline: from a data file to a deployed ONNX model, with two gates.

    ingest → validate → (ok?) train → export_onnx → evaluate → (blessed?) register → deploy
    and, however the run ends, notify (its final status as a CloudEvent)

The evidence is about what is served: export_onnx converts the SavedModel and fails the run when
ONNX Runtime does not match it on every eval row; evaluate then measures that ONNX model, in ONNX
Runtime, and its blessing is the gate in front of deploy. Two gates: no training on data with
anomalies, and no deploy of a model that is not blessed. A blessed model is registered (MLflow
Model Registry, with its evidence) before it is deployed.
"""

from collections.abc import Callable

from kfp import dsl, kubernetes

from mlrail.components._images import COMPONENT_IMAGE
from mlrail.components.deploy import deploy
from mlrail.components.evaluate import evaluate
from mlrail.components.export_onnx import export_onnx
from mlrail.components.ingest import ingest
from mlrail.components.register import register
from mlrail.components.train import train
from mlrail.components.validate import validate
from mlrail.pipelines._cluster import cluster_settings, notifier
from mlrail.pipelines._keys import (
    SIGNING_KEY_SECRET,
    VERIFY_KEY_SECRET,
    mount_signing_key,
    mount_verify_key,
)
from mlrail.pipelines._shards import shard_data

__all__ = ["DESCRIPTION", "pipeline_function", "training"]

# Requests and limits per step on the cluster (kfp.local ignores them). Constants, not pipeline
# parameters: kfp 2.17's compiler does not pass a parameter used only in a task's resources into
# the dsl.If sub-DAG that holds the task, so such an IR fails at run time (train is inside one).
_RESOURCES = {
    "ingest": {"cpu": "1", "memory": "2G"},
    "validate": {"cpu": "1", "memory": "2G"},
    "train": {"cpu": "2", "memory": "4G"},
    "evaluate": {"cpu": "1", "memory": "2G"},
    "export_onnx": {"cpu": "1", "memory": "4G"},
    "register": {"cpu": "500m", "memory": "1G"},
    "deploy": {"cpu": "500m", "memory": "1G"},
}
#: The accelerator train requests in the training_gpu pipeline.
_GPU = "nvidia.com/gpu"


def pipeline_function(
    gpus: int = 0, *, sharded: bool = False, parallelism: int = 0
) -> Callable[..., None]:
    """The training pipeline's function.

    Args:
        gpus: GPUs (``nvidia.com/gpu``) for train.
        sharded: Read the source in shards side by side (plan, then ingest and statistics per
            shard, then merge: :mod:`mlrail.pipelines._shards`) instead of one ingest; validate
            then takes the merged statistics.
        parallelism: With ``sharded``: most shards read at once (0: no limit).
    """
    name = "training-sharded" if sharded else "training"

    def training(
        source: str = "bundled:penguins",
        label: str = "species",
        task: str = "auto",
        eval_ratio: float = 0.2,
        test_ratio: float = 0.0,
        key_column: str = "",
        span_date: str = "",
        span_window: int = 1,
        object_store_secret: str = "mlrail-object-store",
        curated_schema: str = "",
        baseline_statistics: str = "",
        min_examples: int = 1,
        hparams: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
        module_file: str = "",
        module_file_sha256: str = "",
        train_node_selector: dict = {},  # noqa: B006
        train_tolerations: list = [],  # noqa: B006
        train_workers: int = 1,
        train_distribution: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
        thresholds: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
        baseline_model: str = "",
        slices: list = [],  # noqa: B006
        min_slice_rows: int = 10,
        sensitive_columns: list = [],  # noqa: B006
        fairness_thresholds: dict = {},  # noqa: B006
        parity_tolerance: float = 1e-4,
        opset: int = 17,
        optimize: bool = False,
        quantize: bool = False,
        signing_key: str = "",
        signing_key_secret: str = SIGNING_KEY_SECRET,
        max_accuracy_drop: float = 0.01,
        max_rmse_increase: float = 0.01,
        model_name: str = "penguins",
        registry_uri: str = "",
        mlflow_secret: str = "mlrail-mlflow",
        requested_by: str = "",
        reason: str = "",
        kfp_ui_url: str = "",
        pipeline_version: str = "",
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
        verify_key: str = "",
        verify_key_secret: str = VERIFY_KEY_SECRET,
        log_sample_rate: float = 0.1,
        payload_log_url: str = "",
        release_store: str = "",
        events_sink: str = "",
    ):
        """Trains, checks and deploys a model for one label of one tabular data file.

        Args:
            source: CSV, Parquet or JSON Lines data: a file, folder or glob, as a path or an
                s3:// or gs:// URI, or bundled:penguins.
            label: The column to predict.
            task: auto, binary, multiclass or regression.
            eval_ratio: Share of rows held out for evaluation.
            test_ratio: Share of rows held out in a test split no step reads (0 for none).
            key_column: Column whose hash decides the split; empty to hash the whole row.
            span_date: YYYY-MM-DD filling a {YYYY}/{MM}/{DD} pattern in ``source``; empty to use
                the recurring run's scheduled time.
            span_window: Read the last N daily spans ending at that date (1: that day only).
            object_store_secret: Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
                AWS_ENDPOINT_URL for s3:// sources (optional: absent means no credentials).
            curated_schema: Path or URI of a schema.pbtxt to validate against; empty to infer one.
            baseline_statistics: Path or URI of an earlier run's statistics (its artifact folder,
                a Split-<split> folder or a FeatureStats.pb) to measure drift against; empty for
                no drift check.
            min_examples: Fewest rows a split may have before validation flags it.
            hparams: Training hyperparameters (epochs, batch_size, learning_rate, hidden_units,
                dropout, class_weights, early_stopping_patience, seed).
            module_file: Python file (path or URI) with the user's build_model (and optionally
                train); empty for mlrail's default model. Its code runs in the train step.
            module_file_sha256: The module file's SHA-256; train refuses the file, before any
                of it runs, unless its bytes hash to this. Empty: not pinned.
            train_node_selector: Node labels for the train step, e.g. a GPU node pool.
            train_tolerations: Tolerations for the train step, e.g. of a GPU node taint.
            train_workers: Data-parallel workers that train (TensorFlow's
                MultiWorkerMirroredStrategy, each reading its own share of the train split);
                1: the train step trains alone. A ``batch_size`` in ``hparams`` is the global
                batch and must divide by it.
            train_distribution: Where train's workers run, with ``train_workers`` above 1:
                launcher (auto: a Kubeflow Trainer TrainJob of the TrainingRuntime
                mlrail-train when the step runs in a cluster, processes beside the step
                otherwise; trainjob; local), timeout_seconds (default 21600), namespace,
                runtime, image, cpu, memory (each worker's), poll_seconds; empty: those
                defaults.
            thresholds: Metric bounds for the blessing: values, e.g. {"accuracy": ">= 0.9"}, and
                changes against the baseline model, e.g. {"roc_auc": "change >= -0.01"}.
            baseline_model: The model in production to compare with: a registry reference
                (models:/NAME@champion, models:/NAME/3), or a model repository version folder or
                model folder (its newest version), path or URI; empty: the registry's champion
                of model_name when a registry is configured, else no baseline.
            slices: Columns to compute metrics per value (or per quantile bucket) for.
            min_slice_rows: Slices with fewer rows are reported but their thresholds not enforced.
            sensitive_columns: Columns for the fairness metrics (fairlearn).
            fairness_thresholds: Bounds, e.g. {"demographic_parity_difference": "<= 0.1"}.
            parity_tolerance: Absolute part of the ONNX Runtime vs SavedModel bound per value.
            opset: ONNX opset to convert to.
            optimize: Also write an ONNX Runtime-optimised graph, kept if within its accuracy gate.
            quantize: Also write a dynamically int8-quantised model, kept if within its gate.
            signing_key: Path of a PEM EC private key file export_onnx signs the model with
                (on a cluster: /var/run/secrets/mlrail/signing/signing.pem, the key of
                ``signing_key_secret``); empty: $MLRAIL_SIGNING_KEY, else not signed.
            signing_key_secret: Secret whose key signing.pem is mounted read-only into
                export_onnx at /var/run/secrets/mlrail/signing (optional: an absent Secret
                mounts nothing; only ``signing_key`` turns signing on).
            max_accuracy_drop: Classifier variants: most accuracy (and share of changed labels)
                a variant may lose against the plain ONNX model.
            max_rmse_increase: Regression variants: most relative RMSE increase allowed.
            model_name: Name of the model in the registry, the repository and of the
                InferenceService.
            registry_uri: MLflow tracking URI of the model registry; empty: MLFLOW_TRACKING_URI
                from ``mlflow_secret``.
            mlflow_secret: Secret with MLFLOW_TRACKING_URI and MLflow's credentials
                (MLFLOW_TRACKING_TOKEN or _USERNAME/_PASSWORD, MLFLOW_TRACKING_SERVER_CERT_PATH,
                MLFLOW_S3_ENDPOINT_URL), read by evaluate, register and deploy (optional: absent
                means none).
            requested_by: Who asked for this run; shown in the Kubeflow UI, kept with the
                registered version.
            reason: Why this run was asked for; shown in the Kubeflow UI, kept with the
                registered version.
            kfp_ui_url: Base URL of the Kubeflow Pipelines UI; the registered version links to
                the run there. Empty: no link.
            pipeline_version: The compiled pipeline's version (its IR's SHA-256, as ``mlrail
                submit`` and ``mlrail run`` fill it), kept with the registered version.
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
            verify_key: Path of a PEM public key file deploy verifies the model with (on a
                cluster: /var/run/secrets/mlrail/verify/signing.pub, the key of
                ``verify_key_secret``): a model not signed with its private key is refused;
                empty: $MLRAIL_VERIFY_KEY, else not verified.
            verify_key_secret: Secret whose key signing.pub is mounted read-only into deploy at
                /var/run/secrets/mlrail/verify (optional: an absent Secret mounts nothing; only
                ``verify_key`` turns verification on).
            log_sample_rate: Share of the deployed model's answers logged (inputs and outputs)
                for the monitoring pipeline; 0 for none. Local: the repository's _logs folder;
                KServe: sent to ``payload_log_url`` (Triton's logger sends all of them).
            payload_log_url: Where the KServe model's payload log goes; empty: the
                mlrail-payload-logs receiver Service in ``namespace``.
            release_store: Folder keeping every release record of the model (mlrail run:
                <workdir>/releases); empty: each record is kept in deploy's release artifact
                and with the registered version in the registry.
            events_sink: Where lifecycle events go: an http(s) URL (binary mode; append
                #structured for structured mode) or a JSON Lines file (a path or file:// URI);
                empty: K_SINK (Knative's SinkBinding), then none. A sink that is down never
                fails the run.
        """
        # Who asked, why, and which run and image: register keeps them with the version, deploy
        # with the release record.
        provenance = {
            "requested_by": requested_by,
            "reason": reason,
            "pipeline_name": name,
            "pipeline_version": pipeline_version,
            "run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            "run_name": dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            "kfp_ui_url": kfp_ui_url,
            "image": COMPONENT_IMAGE,
        }
        notify_task = notifier(name, model_name, events_sink)
        with dsl.ExitHandler(notify_task, name="run"):
            if sharded:
                merge_task = shard_data(
                    source=source,
                    eval_ratio=eval_ratio,
                    test_ratio=test_ratio,
                    key_column=key_column,
                    span_date=span_date,
                    span_window=span_window,
                    object_store_secret=object_store_secret,
                    parallelism=parallelism,
                    ingest_resources=_RESOURCES["ingest"],
                )
                examples = merge_task.outputs["examples"]
                # the shards' statistics, merged: validate reads no row again
                computed = {"precomputed_statistics": merge_task.outputs["statistics"]}
            else:
                # Retries are for a flaky object store; KFP cannot tell them from bad data,
                # which fails every time, so they stay short: at most 10 + 20 s lost on a file
                # that will never parse.
                ingest_task = cluster_settings(
                    ingest(
                        source=source,
                        eval_ratio=eval_ratio,
                        test_ratio=test_ratio,
                        key_column=key_column,
                        span_date=span_date,
                        span_window=span_window,
                        scheduled_time=dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
                    ),
                    **_RESOURCES["ingest"],
                    object_store_secret=object_store_secret,
                ).set_retry(num_retries=2, backoff_duration="10s", backoff_factor=2.0)
                examples = ingest_task.outputs["examples"]
                computed = {}
            validate_task = cluster_settings(
                validate(
                    examples=examples,
                    curated_schema=curated_schema,
                    baseline_statistics=baseline_statistics,
                    min_examples=min_examples,
                    events_sink=events_sink,
                    model_name=model_name,
                    pipeline=name,
                    run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                    run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                    **computed,
                ),
                **_RESOURCES["validate"],
                object_store_secret=object_store_secret,
            )
            with dsl.If(validate_task.outputs["Output"] == True, name="data-ok"):  # noqa: E712 (KFP condition)
                train_task = cluster_settings(
                    train(
                        examples=examples,
                        schema=validate_task.outputs["schema"],
                        statistics=validate_task.outputs["statistics"],
                        label=label,
                        task=task,
                        hparams=hparams,
                        module_file=module_file,
                        module_file_sha256=module_file_sha256,
                        workers=train_workers,
                        distribution=train_distribution,
                    ),
                    **_RESOURCES["train"],
                    object_store_secret=object_store_secret,
                )
                if gpus:
                    train_task.set_accelerator_type(_GPU).set_accelerator_limit(gpus)
                kubernetes.add_node_selector_json(train_task, train_node_selector)
                kubernetes.add_toleration_json(train_task, train_tolerations)
                # Never cached: this makes the bytes that are served, so each run's are its own
                # (made with what the run has now, its signing key once export signs), and a new
                # onnx_model each run is also what keeps evaluate below from being answered by a
                # cache hit.
                export_task = cluster_settings(
                    export_onnx(
                        model=train_task.outputs["model"],
                        examples=examples,
                        model_name=model_name,
                        tolerance=parity_tolerance,
                        opset=opset,
                        optimize=optimize,
                        quantize=quantize,
                        max_accuracy_drop=max_accuracy_drop,
                        max_rmse_increase=max_rmse_increase,
                        signing_key=signing_key,
                    ),
                    **_RESOURCES["export_onnx"],
                ).set_caching_options(False)
                mount_signing_key(export_task, signing_key_secret)
                # Never cached: the verdict rests on the baseline as it is now (the newest deployed
                # version), which the cache key (the baseline's path) cannot see. The MLflow
                # Secret: its default baseline is the registry's champion of model_name.
                evaluate_task = cluster_settings(
                    evaluate(
                        onnx_model=export_task.outputs["onnx_model"],
                        examples=examples,
                        thresholds=thresholds,
                        baseline_model=baseline_model,
                        slices=slices,
                        min_slice_rows=min_slice_rows,
                        sensitive_columns=sensitive_columns,
                        fairness_thresholds=fairness_thresholds,
                        registry_uri=registry_uri,
                        model_name=model_name,
                        events_sink=events_sink,
                        pipeline_name=name,
                        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                        run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                    ),
                    **_RESOURCES["evaluate"],
                    object_store_secret=object_store_secret,
                    mlflow_secret=mlflow_secret,
                ).set_caching_options(False)
                with dsl.If(evaluate_task.outputs["Output"] == True, name="model-blessed"):  # noqa: E712
                    # Never cached: who asked, why and which run are the version's record; a
                    # model already registered under its identity gets its version back.
                    register_task = cluster_settings(
                        register(
                            onnx_model=export_task.outputs["onnx_model"],
                            examples=examples,
                            schema=validate_task.outputs["schema"],
                            statistics=validate_task.outputs["statistics"],
                            metrics=evaluate_task.outputs["metrics"],
                            blessing=evaluate_task.outputs["blessing"],
                            model_name=model_name,
                            registry_uri=registry_uri,
                            events_sink=events_sink,
                            **provenance,
                        ),
                        **_RESOURCES["register"],
                        object_store_secret=object_store_secret,
                        mlflow_secret=mlflow_secret,
                    ).set_caching_options(False)
                    # What is served is a registered version: its aliases move, and the
                    # release record (kept with it) gathers the run's evidence. The object-store
                    # Secret: for an s3:// registry store.
                    deploy_task = cluster_settings(
                        deploy(
                            onnx_model=export_task.outputs["onnx_model"],
                            registered_model=register_task.outputs["registered_model"],
                            examples=examples,
                            statistics=validate_task.outputs["statistics"],
                            schema=validate_task.outputs["schema"],
                            anomalies=validate_task.outputs["anomalies"],
                            metrics=evaluate_task.outputs["metrics"],
                            blessing=evaluate_task.outputs["blessing"],
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
                            verify_key=verify_key,
                            log_sample_rate=log_sample_rate,
                            payload_log_url=payload_log_url,
                            registry_uri=registry_uri,
                            release_store=release_store,
                            events_sink=events_sink,
                            **provenance,
                        ),
                        **_RESOURCES["deploy"],
                        object_store_secret=object_store_secret,
                        mlflow_secret=mlflow_secret,
                    ).set_caching_options(False)
                    mount_verify_key(deploy_task, verify_key_secret)

    return training


#: Describes the pipeline in the Kubeflow UI.
DESCRIPTION = "From a data file to a served ONNX model, gated."
training = dsl.pipeline(name="training", description=DESCRIPTION)(pipeline_function())
