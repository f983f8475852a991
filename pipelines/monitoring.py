"""The monitoring pipeline: a window of the served model's payload logs against its training data.

    monitor (serving skew, prediction drift, estimated accuracy of the version that answered)
    and, however the run ends, notify (its final status as a CloudEvent)

Scheduled (``mlrail schedule monitoring --cron ...``): each run reads the window ending at its
scheduled time, so consecutive runs cover consecutive windows. monitor sends its own alert
events (serving.skew_detected, serving.drift_detected, serving.performance_dropped); with
``fail_on_alert`` the run also fails, so the Kubeflow UI shows it red and notify's
``run.failed`` is heard.
"""

from kfp import dsl

from mlrail.components.monitor import monitor
from mlrail.pipelines._cluster import cluster_settings, notifier

__all__ = ["monitoring"]

#: The payload receiver's default destination in manifests/ (the object store's bucket).
DEFAULT_LOGS = "s3://mlpipeline/payload-logs"
#: Where each window's summary is kept for the trend across windows (beside the logs).
DEFAULT_HISTORY = "s3://mlpipeline/monitoring-history"


@dsl.pipeline(
    name="monitoring",
    description="Compares a window of the served model's payload logs with the training data "
    "and eval predictions of the version that answered.",
)
def monitoring(
    logs: str = DEFAULT_LOGS,
    model_name: str = "penguins",
    window: str = "24h",
    window_end: str = "",
    baseline_statistics: str = "",
    baseline_schema: str = "",
    baseline_predictions: str = "",
    release_store: str = "",
    registry_uri: str = "",
    model_repository: str = "",
    ground_truth: str = "",
    max_accuracy_drop: float = 0.05,
    metrics_url: str = "",
    history: str = DEFAULT_HISTORY,
    fail_on_alert: bool = False,
    object_store_secret: str = "mlrail-object-store",
    mlflow_secret: str = "mlrail-mlflow",
    events_sink: str = "",
):
    """Checks one window of payload logs: serving skew, prediction drift, estimated accuracy.

    Args:
        logs: The payload-log root (a path or s3:// URI): <logs>/<model>/<YYYY-MM-DD>/<HH>/.
        model_name: The served model's name.
        window: The window's length, ending at the run's scheduled time: 1h, 24h, 7d...
        window_end: The window's end (RFC 3339), for a backfill; empty: the scheduled time.
        baseline_statistics: Training statistics to compare with; empty: those of the version
            that answered, from its release record (release store or registry).
        baseline_schema: The schema going with baseline_statistics; empty: inferred.
        baseline_predictions: The eval predictions profile going with baseline_statistics.
        release_store: Folder of release records searched for the version that answered.
        registry_uri: MLflow tracking URI; empty: MLFLOW_TRACKING_URI from ``mlflow_secret``.
        model_repository: The served model repository; empty: the release's onnx_model.
        ground_truth: Labels joined on the request id (CSV, Parquet, JSON Lines); empty: none.
        max_accuracy_drop: Largest fall of accuracy below eval that is no alert.
        metrics_url: The server's /metrics URL for its error counters; empty: none.
        history: Folder or URI keeping one summary per window, for the trend across windows;
            empty: none.
        fail_on_alert: Fail the run when the window shows an alert.
        object_store_secret: Secret with the object store's credentials (for s3:// logs).
        mlflow_secret: Secret with MLFLOW_TRACKING_URI and MLflow's credentials.
        events_sink: Where the alert and run events go; empty: K_SINK, then none.
    """
    notify_task = notifier("monitoring", model_name, events_sink)
    with dsl.ExitHandler(notify_task, name="run"):
        # Never cached: the window's logs change under the same parameters.
        cluster_settings(
            monitor(
                logs=logs,
                model_name=model_name,
                window=window,
                window_end=window_end,
                scheduled_time=dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
                baseline_statistics=baseline_statistics,
                baseline_schema=baseline_schema,
                baseline_predictions=baseline_predictions,
                release_store=release_store,
                registry_uri=registry_uri,
                model_repository=model_repository,
                ground_truth=ground_truth,
                max_accuracy_drop=max_accuracy_drop,
                metrics_url=metrics_url,
                history=history,
                fail_on_alert=fail_on_alert,
                events_sink=events_sink,
                pipeline_name="monitoring",
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            ),
            cpu="1",
            memory="2G",
            object_store_secret=object_store_secret,
            mlflow_secret=mlflow_secret,
        ).set_caching_options(False)
