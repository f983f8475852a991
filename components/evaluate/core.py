"""evaluate: metrics of the exported model on the eval split, and a blessing from thresholds.

The model evaluated is the SavedModel that export_onnx converts and deploy ships, called
through its ``serving_default`` signature, so the figures describe what will serve.

Outputs::

    metrics            metrics.json: {"task", "rows", "metrics": {name: value}, "confusion_matrix"}
    blessing/
      blessing.json    {"blessed", "checks": [{"metric", "op", "bound", "value", "passed"}],
                        "baseline": null}
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlrail.errors import DataError
from mlrail.io import atomic_dir, atomic_write_json
from mlrail.modelspec import CLASSIFICATION, ModelSpec, read_split, tf_inputs

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Check",
    "Evaluation",
    "compute_metrics",
    "evaluate",
    "parse_thresholds",
    "predict_saved_model",
]

#: Used when no thresholds are given: clearly better than chance, per task.
DEFAULT_THRESHOLDS: dict[str, dict[str, str]] = {
    "binary": {"roc_auc": ">= 0.6"},
    "multiclass": {"accuracy": ">= 0.6"},
    "regression": {"r2": ">= 0.1"},
}
_HIGHER_IS_BETTER = {"accuracy", "roc_auc", "r2"}
_OPS = {
    ">=": lambda v, b: v >= b,
    "<=": lambda v, b: v <= b,
    ">": lambda v, b: v > b,
    "<": lambda v, b: v < b,
}
_THRESHOLD = re.compile(r"^\s*(>=|<=|>|<)?\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Check:
    metric: str
    op: str
    bound: float
    value: float | None
    passed: bool


@dataclass
class Evaluation:
    task: str
    rows: int
    metrics: dict[str, float]
    classes: list[str] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def blessed(self) -> bool:
        return all(c.passed for c in self.checks)


def predict_saved_model(saved_model_dir: str | Path, features: dict[str, np.ndarray]) -> np.ndarray:
    """Outputs of the SavedModel's ``serving_default`` signature on ``features``."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    fn = tf.saved_model.load(str(saved_model_dir)).signatures["serving_default"]
    (out,) = fn(**tf_inputs(features)).values()
    return np.asarray(out.numpy())


def compute_metrics(
    spec: ModelSpec, y: np.ndarray, pred: np.ndarray
) -> tuple[dict[str, float], list[list[int]]]:
    """scikit-learn metrics for ``spec.task``; classification also returns the confusion matrix."""
    from sklearn import metrics as skm

    if spec.task in CLASSIFICATION:
        labels = list(range(len(spec.classes)))
        pred_class = pred.argmax(axis=1)
        out = {
            "accuracy": float(skm.accuracy_score(y, pred_class)),
            "log_loss": float(skm.log_loss(y, np.clip(pred, 1e-7, 1), labels=labels)),
        }
        present = np.unique(y)
        if len(present) == len(labels):  # AUC is undefined when a class is absent from eval
            if spec.task == "binary":
                out["roc_auc"] = float(skm.roc_auc_score(y, pred[:, 1]))
            else:
                out["roc_auc"] = float(skm.roc_auc_score(y, pred, multi_class="ovr", labels=labels))
        cm = skm.confusion_matrix(y, pred_class, labels=labels)
        return out, cm.astype(int).tolist()
    p = pred.reshape(-1)
    return {
        "rmse": float(math.sqrt(skm.mean_squared_error(y, p))),
        "mae": float(skm.mean_absolute_error(y, p)),
        "r2": float(skm.r2_score(y, p)),
    }, []


def parse_thresholds(thresholds: dict[str, Any]) -> list[tuple[str, str, float]]:
    """``{"accuracy": ">= 0.9", "rmse": 3}`` → ``[("accuracy", ">=", 0.9), ("rmse", "<=", 3.0)]``.

    A bare number means "at least" for accuracy, roc_auc and r2, and "at most" for the others.
    """
    out = []
    for metric, raw in thresholds.items():
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ValueError(
                f"threshold for {metric!r}: expected a number or '>= 0.9', got {raw!r}"
            )
        m = _THRESHOLD.match(str(raw))
        if not m:
            raise ValueError(f"threshold for {metric!r}: cannot read {raw!r}; write e.g. '>= 0.9'")
        op = m.group(1) or (">=" if metric in _HIGHER_IS_BETTER else "<=")
        out.append((metric, op, float(m.group(2))))
    return out


def evaluate(
    model_dir: str | Path,
    examples_dir: str | Path,
    metrics_path: str | Path,
    blessing_dir: str | Path,
    *,
    thresholds: dict[str, Any] | None = None,
    split: str = "eval",
) -> Evaluation:
    """Evaluate the model on ``split`` and write the metrics and the blessing."""
    spec = ModelSpec.read(model_dir)
    where = str(Path(examples_dir) / split)
    table = read_split(where)
    y, mask = spec.labels(table, where)
    if not mask.any():
        raise DataError(f"{where}: no labelled rows to evaluate on")
    features = {k: v[mask] for k, v in spec.features(table, where).items()}
    y = y[mask]
    pred = predict_saved_model(Path(model_dir) / "saved_model", features)
    metrics, cm = compute_metrics(spec, y, pred)
    wanted = parse_thresholds(thresholds or DEFAULT_THRESHOLDS[spec.task])
    checks = []
    for metric, op, bound in wanted:
        value = metrics.get(metric)
        if value is None and metric == "roc_auc" and spec.task in CLASSIFICATION:
            absent = sorted(set(spec.classes) - {spec.classes[int(i)] for i in np.unique(y)})
            raise DataError(
                f"{where}: ROC AUC is undefined because no eval row has class(es) "
                f"{', '.join(map(repr, absent))}; use a larger eval_ratio or more data, "
                "or set a threshold on another metric"
            )
        if value is None:
            raise ValueError(
                f"threshold on {metric!r}, but a {spec.task} evaluation has: {', '.join(metrics)}"
            )
        checks.append(Check(metric, op, bound, value, bool(_OPS[op](value, bound))))
    ev = Evaluation(spec.task, int(len(y)), metrics, spec.classes, cm, checks)
    atomic_write_json(
        metrics_path,
        {
            "task": ev.task,
            "rows": ev.rows,
            "metrics": metrics,
            "classes": ev.classes,
            "confusion_matrix": cm,
        },
    )
    with atomic_dir(blessing_dir) as tmp:
        atomic_write_json(
            tmp / "blessing.json",
            {
                "blessed": ev.blessed,
                "checks": [c.__dict__ for c in checks],
                # comparison with the deployed model is not done yet: no baseline was used
                "baseline": None,
            },
        )
    return ev
