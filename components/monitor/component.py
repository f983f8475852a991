"""The monitor component: a thin KFP adapter over :mod:`mlrail.components.monitor.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Metrics, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def monitor(
    statistics: Output[Artifact],
    anomalies: Output[Artifact],
    metrics: Output[Metrics],
    report: Output[HTML],
    logs: str,
    model_name: str,
    window: str = "24h",
    window_end: str = "",
    scheduled_time: str = "",
    baseline_statistics: str = "",
    baseline_schema: str = "",
    baseline_predictions: str = "",
    release_store: str = "",
    registry_uri: str = "",
    model_repository: str = "",
    ground_truth: str = "",
    max_accuracy_drop: float = 0.05,
    metrics_url: str = "",
    history: str = "",
    fail_on_alert: bool = False,
    events_sink: str = "",
    pipeline_name: str = "",
    run_id: str = "",
    run_name: str = "",
) -> bool:
    """Compares a window of the served model's payload logs with the training data and eval
    predictions of the version that answered: serving skew, prediction drift, estimated accuracy.

    Args:
        logs: The payload-log root (a path or s3:// URI): <logs>/<model>/<YYYY-MM-DD>/<HH>/.
        model_name: The model whose logs are read.
        window: The window's length, ending at its end: 1h, 24h, 7d...
        window_end: The window's end (RFC 3339); empty: the run's scheduled time, else now.
        scheduled_time: The run's scheduled time (KFP's schedule-time placeholder).
        baseline_statistics: Training statistics to compare every version with; empty: each
            version's own, found through its release record.
        baseline_schema: The schema that goes with baseline_statistics; empty: inferred from them.
        baseline_predictions: The eval predictions profile (evaluate's blessing/predictions)
            that goes with baseline_statistics; empty: no prediction drift or estimated accuracy.
        release_store: Folder of release records (mlrail run: <workdir>/releases), searched
            for the release of the version that answered.
        registry_uri: MLflow tracking URI, searched when the release store has no release of it;
            empty: $MLFLOW_TRACKING_URI.
        model_repository: The served model repository (its version folders' model_spec.json);
            empty: each release's onnx_model artifact.
        ground_truth: Labels arriving later (CSV, Parquet or JSON Lines with id and the label
            column), joined on the request id; empty: no realized figures.
        max_accuracy_drop: Largest fall of accuracy below the eval accuracy that is no alert.
        metrics_url: The server's /metrics URL, for its request and error counters; empty: none.
        history: Folder or URI keeping one summary per window checked, for the accuracy trend
            across windows in the report; empty: none.
        fail_on_alert: Fail the step (after writing every output and event) when the window
            shows skew, drift or a performance drop; otherwise report and return False.
        events_sink: Where serving.skew_detected, serving.drift_detected and
            serving.performance_dropped go: an http(s) URL or a JSON Lines file; empty: K_SINK,
            then none.
        pipeline_name: The pipeline's name (the events' source).
        run_id: The run's id (pass dsl.PIPELINE_JOB_ID_PLACEHOLDER).
        run_name: The run's name (pass dsl.PIPELINE_JOB_NAME_PLACEHOLDER).

    Returns:
        statistics: The window's statistics in TFX's ExampleStatistics layout, per version
            that answered: its inputs (``Split-serving-v<N>/FeatureStats.pb``) and its
            predictions (``Split-predictions-v<N>/FeatureStats.pb``), each a one-dataset
            DatasetFeatureStatisticsList TFDV reads as it is, and statistics.json.
        anomalies: TFX's ExampleAnomalies layout: ``Split-<split>/SchemaDiff.pb`` per split
            (schema anomalies and every skew and drift value), and the whole finding per
            version (anomalies.json).
        metrics: Records, rows, skewed features, drifted outputs, estimated and eval accuracy,
            realized figures, latency.
        report: Training vs serving histograms per feature (skew highlighted), prediction drift,
            the estimated accuracy per hour, as one HTML page.
        Output: True when the window shows no alert (or had no traffic).
    """
    from mlrail import events
    from mlrail.artifacts import tfmd
    from mlrail.components.monitor import core

    found = core.monitor(
        logs,
        model_name,
        statistics.path,
        anomalies.path,
        report.path,
        window=window,
        window_end=window_end,
        scheduled_time=scheduled_time,
        sources=core.BaselineSources(
            baseline_statistics=baseline_statistics,
            baseline_schema=baseline_schema,
            baseline_predictions=baseline_predictions,
            release_store=release_store,
            registry_uri=registry_uri,
            model_repository=model_repository,
        ),
        ground_truth=ground_truth,
        max_accuracy_drop=max_accuracy_drop,
        metrics_url=metrics_url,
        history=history,
        fail_on_alert=fail_on_alert,
        events_sink=events_sink,
        pipeline=pipeline_name,
        run_id=run_id,
        run_name=run_name,
        event_links={
            "anomalies": anomalies.uri,
            "statistics": statistics.uri,
            "report": report.uri,
        },
    )
    # TFX's ExampleStatistics/ExampleAnomalies property: one split per version (none: "[]")
    statistics.metadata["split_names"] = tfmd.split_names_metadata(statistics.path)
    anomalies.metadata["split_names"] = tfmd.split_names_metadata(anomalies.path)
    for name, value in core.metrics_of(found).items():
        metrics.log_metric(name, value)
    anomalies.metadata.update(
        {
            "healthy": found.healthy,
            "no_traffic": found.no_traffic,
            **events.summary(found.deliveries),
        }
    )
    return found.healthy
