"""Model quality figures, computed with scikit-learn: overall, per class, per slice, and curves.

Classification (``pred`` holds one probability per class, in ``spec.classes`` order; the
predicted class is the most probable one):

- ``accuracy``, ``balanced_accuracy`` (the mean recall over the classes present in the data);
- ``precision_macro``, ``recall_macro``, ``f1_macro``, and per class ``precision``, ``recall``,
  ``f1`` and ``support`` (a class never predicted has precision 0, not an error);
- ``roc_auc``: binary on the second class' probability; multiclass one-vs-rest, macro-averaged.
  Undefined, so absent, when a class has no row in the data;
- ``average_precision`` (binary only): the area under the precision-recall curve;
- ``log_loss``;
- ``ece``: expected calibration error on the top label. Each row's confidence is its largest
  probability and it is correct when that class is the true one; rows go into 10 equal-width
  confidence bins (scikit-learn's ``calibration_curve`` binning) and
  ``ECE = sum over bins b of (n_b / n) * |accuracy_b - mean confidence_b|``
  (Guo et al., "On Calibration of Modern Neural Networks", 2017). 0 is perfectly calibrated.

Regression: ``rmse``, ``mae``, ``r2`` (absent with fewer than 2 rows) and ``mape``:
scikit-learn's ``mean_absolute_percentage_error``, a fraction (0.1 is 10%), not a percentage.
It divides by ``max(|y|, machine epsilon)``, so a true value of 0 does not give infinity but an
enormous figure (``|error| / 2.2e-16``): on a label that can be 0, prefer ``mae``.

Slices: the rows sharing one value of a column (strings, booleans, and numbers with at most as
many distinct values as buckets), or one quantile bucket of a numeric column, labelled
``[low, high)`` (the last bucket is closed, ``[low, high]``). Missing values form the slice
``(missing)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec
from mlrail.charts import num
from mlrail.errors import DataError

__all__ = [
    "DEFAULT_BUCKETS",
    "ECE_BINS",
    "HIGHER_IS_BETTER",
    "MISSING",
    "PER_CLASS_METRICS",
    "Curves",
    "MetricSet",
    "Slice",
    "SliceSpec",
    "compute_metrics",
    "is_metric",
    "task_metrics",
    "compute_curves",
    "expected_calibration_error",
    "parse_slices",
    "slice_rows",
]

ECE_BINS = 10
DEFAULT_BUCKETS = 4
MISSING = "(missing)"
#: Metrics for which larger is better (a bare-number threshold means "at least" for these).
HIGHER_IS_BETTER = frozenset(
    {
        "accuracy",
        "balanced_accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "average_precision",
        "r2",
        "demographic_parity_ratio",
        "equalized_odds_ratio",
    }
)
_CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "ece",
)
#: The per-class figures, written ``recall[Adelie]`` in thresholds.
PER_CLASS_METRICS = ("precision", "recall", "f1", "support")
_PER_CLASS = PER_CLASS_METRICS
_MAX_CURVE_POINTS = 201  # curves are thinned to this many points in the outputs


@dataclass
class MetricSet:
    """The figures of one set of rows.

    Attributes:
        rows: How many rows.
        scalars: Metric name to value (only defined metrics are present).
        per_class: Class name to ``{"precision", "recall", "f1", "support"}`` (classification).
        confusion_matrix: Rows: true class, columns: predicted class (classification).
    """

    rows: int
    scalars: dict[str, float]
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion_matrix: list[list[int]] = field(default_factory=list)

    def get(self, metric: str) -> float | None:
        """A scalar, or a per-class figure written ``recall[Adelie]``; None when undefined."""
        if metric in self.scalars:
            return self.scalars[metric]
        if metric.endswith("]") and "[" in metric:
            name, cls = metric[:-1].split("[", 1)
            value = self.per_class.get(cls, {}).get(name)
            return None if value is None else float(value)
        return None


def task_metrics(task: str) -> list[str]:
    """The metrics computed for ``task`` (per-class figures are ``<name>[<class>]``)."""
    if task == "binary":
        return [*_CLASSIFICATION_METRICS[:6], "average_precision", *_CLASSIFICATION_METRICS[6:]]
    if task in CLASSIFICATION:
        return list(_CLASSIFICATION_METRICS)
    return ["rmse", "mae", "mape", "r2"]


def is_metric(spec: ModelSpec, metric: str) -> bool:
    """Whether ``metric`` names a figure of ``spec.task`` (``recall[Adelie]`` included)."""
    if metric in task_metrics(spec.task):
        return True
    name, _, cls = metric.partition("[")
    return (
        spec.task in CLASSIFICATION
        and name in _PER_CLASS
        and cls.endswith("]")
        and cls[:-1] in spec.classes
    )


def expected_calibration_error(
    y: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS
) -> tuple[float, dict[str, list[float]]]:
    """ECE on the top label, and the calibration curve it is computed from.

    Args:
        y: True class indices.
        proba: One probability per class and row.
        n_bins: Equal-width confidence bins on [0, 1].

    Returns:
        The ECE, and the non-empty bins' ``{"confidence", "accuracy", "rows"}`` in bin order.
    """
    from sklearn.calibration import calibration_curve

    confidence = proba.max(axis=1).astype(np.float64)
    correct = (proba.argmax(axis=1) == y).astype(np.float64)
    # scikit-learn's own rows per bin, so the counts line up with calibration_curve's bins
    bins = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(bins[1:-1], confidence), minlength=n_bins)
    counts = counts[counts > 0]
    accuracy, mean_conf = calibration_curve(correct, confidence, n_bins=n_bins, strategy="uniform")
    ece = float(np.sum(counts / len(y) * np.abs(accuracy - mean_conf)))
    return ece, {
        "confidence": mean_conf.tolist(),
        "accuracy": accuracy.tolist(),
        "rows": counts.astype(float).tolist(),
    }


def compute_metrics(spec: ModelSpec, y: np.ndarray, pred: np.ndarray) -> MetricSet:
    """The metrics of ``spec.task`` for true values ``y`` and model outputs ``pred``."""
    from sklearn import metrics as skm
    from sklearn.exceptions import UndefinedMetricWarning

    n = int(len(y))
    if n == 0:
        return MetricSet(0, {})
    with warnings.catch_warnings():
        # balanced accuracy warns on a slice whose rows (or predictions) hold one class only or
        # whose predictions hold a class its rows lack, r2 on one row: all are defined here
        # (the mean recall over the classes present; r2 omitted)
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", "A single label was found")
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if spec.task in CLASSIFICATION:
            return _classification(spec, y, pred, skm)
        p = pred.reshape(-1).astype(np.float64)
        t = y.astype(np.float64)
        out = {
            "rmse": float(math.sqrt(skm.mean_squared_error(t, p))),
            "mae": float(skm.mean_absolute_error(t, p)),
            "mape": float(skm.mean_absolute_percentage_error(t, p)),
        }
        if n >= 2:
            out["r2"] = float(skm.r2_score(t, p))
        return MetricSet(n, out)


def _classification(spec: ModelSpec, y: np.ndarray, pred: np.ndarray, skm: Any) -> MetricSet:
    labels = list(range(len(spec.classes)))
    proba = pred.astype(np.float64)
    pred_class = proba.argmax(axis=1)
    prec, rec, f1, support = skm.precision_recall_fscore_support(
        y, pred_class, labels=labels, zero_division=0
    )
    out = {
        "accuracy": float(skm.accuracy_score(y, pred_class)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred_class)),
        "precision_macro": float(np.mean(prec)),
        "recall_macro": float(np.mean(rec)),
        "f1_macro": float(np.mean(f1)),
    }
    if len(np.unique(y)) == len(labels):  # AUC is undefined when a class is absent
        if spec.task == "binary":
            out["roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
            out["average_precision"] = float(skm.average_precision_score(y, proba[:, 1]))
        else:
            out["roc_auc"] = float(
                skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels)
            )
    # float32 softmax rows sum to 1 within ~1e-7; renormalised so log_loss does not warn
    out["log_loss"] = float(
        skm.log_loss(y, proba / proba.sum(axis=1, keepdims=True), labels=labels)
    )
    out["ece"] = expected_calibration_error(y, proba)[0]
    per_class = {
        c: {
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": float(support[i]),
        }
        for i, c in enumerate(spec.classes)
    }
    cm = skm.confusion_matrix(y, pred_class, labels=labels).astype(int).tolist()
    return MetricSet(int(len(y)), out, per_class, cm)


@dataclass
class Curves:
    """Curves for the report and the KFP outputs, each thinned to at most 201 points.

    Attributes:
        roc: Per class (binary: the second class only) ``{"fpr", "tpr", "thresholds"}``; the
            thresholds are finite (scikit-learn's first threshold, infinity, is written as a
            number just above every score, so KFP can store it).
        pr: Per class ``{"precision", "recall"}``.
        calibration: The top-label reliability curve (``{"confidence", "accuracy", "rows"}``).
        predicted_vs_true: Regression: ``{"predicted", "true", "rows"}``, the mean prediction and
            the mean true value in each of up to 10 quantile bins of the prediction.
    """

    roc: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    pr: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    calibration: dict[str, list[float]] = field(default_factory=dict)
    predicted_vs_true: dict[str, list[float]] = field(default_factory=dict)


def _thin(arrays: dict[str, np.ndarray]) -> dict[str, list[float]]:
    n = len(next(iter(arrays.values())))
    if n > _MAX_CURVE_POINTS:
        keep = np.unique(np.round(np.linspace(0, n - 1, _MAX_CURVE_POINTS)).astype(int))
        arrays = {k: v[keep] for k, v in arrays.items()}
    return {k: [float(x) for x in v] for k, v in arrays.items()}


def compute_curves(spec: ModelSpec, y: np.ndarray, pred: np.ndarray) -> Curves:
    """ROC, precision-recall and calibration curves (classification), or predicted against true
    by bins of the prediction (regression)."""
    from sklearn import metrics as skm

    out = Curves()
    if spec.task not in CLASSIFICATION:
        p = pred.reshape(-1).astype(np.float64)
        t = y.astype(np.float64)
        edges = np.unique(np.quantile(p, np.linspace(0, 1, 11))) if len(p) else np.array([])
        ids = np.searchsorted(edges[1:-1], p, side="right")
        bins = [ids == b for b in range(max(len(edges) - 1, 1)) if (ids == b).any()]
        out.predicted_vs_true = {
            "predicted": [float(p[m].mean()) for m in bins],
            "true": [float(t[m].mean()) for m in bins],
            "rows": [float(m.sum()) for m in bins],
        }
        return out
    proba = pred.astype(np.float64)
    present = set(np.unique(y).tolist())
    classes = [1] if spec.task == "binary" else range(len(spec.classes))
    for i in classes:
        if i not in present or len(present) < 2:  # one-vs-rest needs both sides
            continue
        fpr, tpr, thr = skm.roc_curve(y == i, proba[:, i])
        finite = thr[np.isfinite(thr)]
        above = np.nextafter(max(float(finite.max()) if len(finite) else 1.0, 1.0), np.inf)
        thr = np.where(np.isfinite(thr), thr, above)
        out.roc[spec.classes[i]] = _thin({"fpr": fpr, "tpr": tpr, "thresholds": thr})
        precision, recall, _ = skm.precision_recall_curve(y == i, proba[:, i])
        out.pr[spec.classes[i]] = _thin({"precision": precision, "recall": recall})
    out.calibration = expected_calibration_error(y, proba)[1]
    return out


# ---------------------------------------------------------------------------------------------
# slices


@dataclass(frozen=True)
class SliceSpec:
    """A column to slice by: per value, or in ``buckets`` quantile buckets if numeric."""

    column: str
    buckets: int = DEFAULT_BUCKETS


def parse_slices(raw: Sequence[Any]) -> list[SliceSpec]:
    """``["island", {"column": "body_mass_g", "buckets": 3}]`` → slice specs.

    Raises:
        ValueError: an entry that is neither a column name nor such a mapping.
    """
    out = []
    for item in raw:
        if isinstance(item, str) and item:
            out.append(SliceSpec(item))
            continue
        if isinstance(item, dict) and isinstance(item.get("column"), str) and item["column"]:
            extra = set(item) - {"column", "buckets"}
            buckets = item.get("buckets", DEFAULT_BUCKETS)
            if not extra and isinstance(buckets, int) and not isinstance(buckets, bool):
                if buckets >= 1:
                    out.append(SliceSpec(item["column"], buckets))
                    continue
        raise ValueError(
            f"slice {item!r}: expected a column name or {{'column': NAME, 'buckets': N}} with "
            "N >= 1"
        )
    return out


@dataclass(frozen=True)
class Slice:
    """One slice: ``column=label`` and its rows (a boolean mask over the evaluated rows)."""

    column: str
    label: str
    mask: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.column}={self.label}"


def slice_rows(table: pa.Table, spec: SliceSpec, where: str) -> list[Slice]:
    """The slices of ``table`` by ``spec``: values in sorted order (missing last), or buckets
    in increasing order.

    Raises:
        DataError: the column is not in the data.
    """
    if spec.column not in table.column_names:
        raise DataError(
            f"{where}: slice column {spec.column!r} is not in the data "
            f"(columns: {', '.join(table.column_names)})"
        )
    col = table.column(spec.column)
    numeric = pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
    if numeric:
        x = col.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        present = np.isfinite(x)
        distinct = np.unique(x[present])
        if len(distinct) > spec.buckets:
            return _buckets(spec, x, present)
        labels = np.array([num(v) if ok else MISSING for v, ok in zip(x, present, strict=True)])
        order = [num(v) for v in distinct]
    else:
        values = col.to_pylist()
        labels = np.array([MISSING if v is None else str(v) for v in values], dtype=object)
        order = sorted({str(v) for v in values if v is not None})
    if (labels == MISSING).any():
        order.append(MISSING)
    return [Slice(spec.column, v, labels == v) for v in order]


def _buckets(spec: SliceSpec, x: np.ndarray, present: np.ndarray) -> list[Slice]:
    edges = np.unique(np.quantile(x[present], np.linspace(0, 1, spec.buckets + 1)))
    inner = edges[1:-1]
    ids = np.full(len(x), -1)
    ids[present] = np.searchsorted(inner, x[present], side="right")
    out = []
    for b in range(len(edges) - 1):
        closing = "]" if b == len(edges) - 2 else ")"
        label = f"[{num(edges[b])}, {num(edges[b + 1])}{closing}"
        mask = ids == b
        if mask.any():
            out.append(Slice(spec.column, label, mask))
    if (~present).any():
        out.append(Slice(spec.column, MISSING, ~present))
    return out
