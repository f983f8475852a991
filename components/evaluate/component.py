"""The evaluate component: a thin KFP adapter over :mod:`mlrail.components.evaluate.core`."""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def evaluate(
    model: Input[Model],
    examples: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    blessing: Output[Artifact],
    thresholds: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
) -> bool:
    """Measures the model on the eval split and blesses it when every threshold holds.

    Args:
        model: The model written by train.
        examples: The splits written by ingest; evaluates on ``eval``.
        metrics: Scalar metrics (accuracy, roc_auc, log_loss or rmse, mae, r2).
        classification_metrics: The confusion matrix (empty for regression).
        blessing: blessing.json with every threshold checked.
        thresholds: Metric name to bound, e.g. {"accuracy": ">= 0.9"}; empty for the task's
            default.

    Returns:
        True when the model is blessed: the gate in front of export and deploy.
    """
    from mlrail.components.evaluate import core

    ev = core.evaluate(
        model.path, examples.path, metrics.path, blessing.path, thresholds=thresholds
    )
    for name, value in ev.metrics.items():
        metrics.log_metric(name, value)
    # empty for regression: the UI shows no matrix
    classification_metrics.log_confusion_matrix(ev.classes, ev.confusion_matrix)
    blessing.metadata["blessed"] = ev.blessed
    return ev.blessed
