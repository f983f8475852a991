"""The evaluate component: a thin KFP adapter over :mod:`mlrail.components.evaluate.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def evaluate(
    onnx_model: Input[Model],
    examples: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    blessing: Output[Artifact],
    report: Output[HTML],
    thresholds: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
    slices: list = [],  # noqa: B006
    min_slice_rows: int = 10,
    sensitive_columns: list = [],  # noqa: B006
    fairness_thresholds: dict = {},  # noqa: B006
    baseline_model: str = "",
    registry_uri: str = "",
    model_name: str = "",
    events_sink: str = "",
    pipeline_name: str = "",
    run_id: str = "",
    run_name: str = "",
) -> bool:
    """Measures the ONNX model, in ONNX Runtime, on the eval split, overall, per slice and per
    group, against a baseline when there is one, and blesses it when no enforced threshold fails.

    Args:
        onnx_model: The model export_onnx wrote (its model.onnx is what deploy serves).
        examples: The splits written by ingest; evaluates on ``eval``.
        thresholds: Metric to bound, e.g. {"accuracy": ">= 0.9", "roc_auc": {"max_drop": 0.01}},
            or {"overall": {...}, "slices": {"island": {...}}}; empty for the task's default.
        slices: Columns to slice by, e.g. ["island", {"column": "body_mass_g", "buckets": 4}].
        min_slice_rows: Slices and fairness groups with fewer rows are reported, not enforced.
        sensitive_columns: Columns to compute fairness figures for (fairlearn), e.g. ["sex"].
        fairness_thresholds: e.g. {"demographic_parity_difference": "<= 0.1"}.
        baseline_model: The model to compare with: a registry reference
            (``models:/penguins@champion``, ``models:/penguins/3``), or the path or URI of a
            model repository's model folder (its newest version), a version folder or a train
            output. "" for the registry's champion of ``model_name`` when a registry is
            configured, else none; "none" for no baseline at all. No champion yet, or a path
            with nothing deployed yet, means no baseline (the first release); a registry that
            cannot be reached fails the step.
        registry_uri: MLflow tracking URI of the model registry; empty for
            $MLFLOW_TRACKING_URI (no registry when that is unset too).
        model_name: The registered model whose champion is the default baseline (and the
            subject of its event).
        events_sink: Where io.mlrail.model.not_blessed goes when the model is not blessed: an
            http(s) URL (binary mode; `#structured` for structured) or a JSON Lines file;
            empty: K_SINK, then none. A sink that is down never fails this step.
        pipeline_name: The pipeline's name (the event's source).
        run_id: The run's id (pass dsl.PIPELINE_JOB_ID_PLACEHOLDER).
        run_name: The run's name (pass dsl.PIPELINE_JOB_NAME_PLACEHOLDER).

    Returns:
        metrics: Scalar metrics (accuracy, balanced_accuracy, precision/recall/f1 macro, roc_auc,
            log_loss, ece; or rmse, mae, mape, r2) and fairness figures per sensitive column.
        classification_metrics: The confusion matrix and, for a binary task, the ROC curve
            (empty for regression).
        blessing: blessing.json: every check with its value, bound, baseline value and verdict,
            the baseline used, and what the blessing rests on.
        report: A self-contained HTML page: checks, metrics, confusion matrix, ROC/PR and
            calibration curves, slices, fairness, feature importance.
        Output: True when the model is blessed: the gate in front of deploy.
    """
    from mlrail import events
    from mlrail.components.evaluate import core

    ev = core.evaluate(
        onnx_model.path,
        examples.path,
        metrics.path,
        blessing.path,
        report_path=report.path,
        thresholds=thresholds,
        slices=slices,
        min_slice_rows=min_slice_rows,
        sensitive_columns=sensitive_columns,
        fairness_thresholds=fairness_thresholds,
        baseline_model=baseline_model,
        registry_uri=registry_uri,
        model_name=model_name,
        events_sink=events_sink,
        pipeline=pipeline_name,
        run_id=run_id,
        run_name=run_name,
        event_links={"metrics": metrics.uri, "blessing": blessing.uri, "report": report.uri},
    )
    for name, value in ev.kfp_metrics().items():
        metrics.log_metric(name, value)
    # empty for regression: the UI shows no matrix; the ROC curve is binary only
    classification_metrics.log_confusion_matrix(ev.classes, ev.confusion_matrix)
    classification_metrics.log_roc_curve(*ev.kfp_roc_curve())
    blessing.metadata["blessed"] = ev.blessed
    blessing.metadata["baseline"] = ev.baseline.source if ev.baseline else ""
    blessing.metadata["failed_checks"] = ev.failed_checks
    for delivery in ev.deliveries:  # none for a blessed model
        print(delivery.line())
    blessing.metadata.update(events.summary(ev.deliveries))
    return ev.blessed
