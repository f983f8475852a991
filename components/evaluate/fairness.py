"""Fairness across the groups of a sensitive column, with fairlearn.

Groups are the column's values (numeric columns: quantile buckets, as for slices; missing values
are the group ``(missing)``). Every group is listed with its figures, but only groups with at
least ``min_rows`` rows enter the differences and ratios: a group of three rows would otherwise
decide them by chance.

Binary classification (the positive class is the second class, the predicted class the most
probable one):

- ``demographic_parity_difference`` / ``_ratio``: the largest gap (smallest ratio) between
  groups' selection rates (the share of rows predicted positive);
- ``equalized_odds_difference`` / ``_ratio``: the larger of the gaps in true positive rate and
  in false positive rate between groups (the smaller of the ratios);
- ``error_rate_difference``: the largest gap between groups' error rates.

Per group: ``rows``, ``selection_rate``, ``error_rate``, ``true_positive_rate``,
``false_positive_rate``.

Multiclass: fairlearn's parity metrics are defined for a binary prediction, so each class is
taken one-vs-rest ("is predicted c" against "is c"); the figures per class are in ``by_class``,
and the headline is the worst class (largest difference, smallest ratio): a model is as unfair
as its least fair class. ``error_rate_difference`` is computed on the classes directly. Per
group: ``rows``, ``error_rate`` and ``selection_rate[c]`` for each class.

Regression: parity of a prediction is not defined; per group ``rows``, ``mae`` and ``rmse``, and
``mae_difference`` and ``rmse_difference`` between groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec
from mlrail.components.evaluate.metrics import SliceSpec, slice_rows

__all__ = ["FAIRNESS_METRICS", "Fairness", "Group", "compute_fairness"]

#: The figures a fairness threshold can name.
FAIRNESS_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "error_rate_difference",
    "mae_difference",
    "rmse_difference",
)


@dataclass(frozen=True)
class Group:
    """One group of a sensitive column: its rows and figures; ``small`` groups are left out of
    the differences."""

    label: str
    rows: int
    figures: dict[str, float]
    small: bool


@dataclass
class Fairness:
    """The fairness figures of one sensitive column.

    Attributes:
        column: The sensitive column.
        groups: Every group, in slice order.
        metrics: Differences and ratios between the groups that are not small; empty when fewer
            than two groups are large enough.
        by_class: Multiclass: class to its one-vs-rest differences and ratios.
        note: Why some figures are absent, if they are.
    """

    column: str
    groups: list[Group]
    metrics: dict[str, float] = field(default_factory=dict)
    by_class: dict[str, dict[str, float]] = field(default_factory=dict)
    note: str = ""


def _finite(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if v is not None and math.isfinite(float(v))}


def _rmse(y_true: Any, y_pred: Any) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2)))


def _parity(y: np.ndarray, p: np.ndarray, s: np.ndarray) -> dict[str, float]:
    from fairlearn import metrics as flm

    with np.errstate(divide="ignore", invalid="ignore"):  # a ratio over a zero rate: omitted
        return _finite(
            {
                "demographic_parity_difference": flm.demographic_parity_difference(
                    y, p, sensitive_features=s
                ),
                "demographic_parity_ratio": flm.demographic_parity_ratio(
                    y, p, sensitive_features=s
                ),
                "equalized_odds_difference": flm.equalized_odds_difference(
                    y, p, sensitive_features=s
                ),
                "equalized_odds_ratio": flm.equalized_odds_ratio(y, p, sensitive_features=s),
            }
        )


def compute_fairness(
    spec: ModelSpec,
    table: pa.Table,
    y: np.ndarray,
    pred: np.ndarray,
    column: str,
    *,
    min_rows: int,
    where: str,
) -> Fairness:
    """fairlearn's figures for ``column`` on the evaluated rows (``table``, ``y`` and the model's
    outputs ``pred`` are row-aligned)."""
    from fairlearn.metrics import MetricFrame, count, selection_rate
    from fairlearn.metrics import false_positive_rate as fpr
    from fairlearn.metrics import true_positive_rate as tpr
    from sklearn.metrics import mean_absolute_error, zero_one_loss

    slices = slice_rows(table, SliceSpec(column), where)
    s = np.empty(len(y), dtype=object)
    for sl in slices:
        s[sl.mask] = sl.label
    large = {sl.label for sl in slices if sl.mask.sum() >= min_rows}
    keep = np.isin(s, list(large))

    fns: dict[str, Any]
    if spec.task in CLASSIFICATION:
        yt, yp = y, pred.argmax(axis=1)
        fns = {"rows": count, "error_rate": zero_one_loss}
        if spec.task == "binary":
            fns |= {"selection_rate": selection_rate, "true_positive_rate": tpr}
            fns["false_positive_rate"] = fpr
        else:
            for i, c in enumerate(spec.classes):
                fns[f"selection_rate[{c}]"] = partial(selection_rate, pos_label=i)
    else:
        yt, yp = y.astype(np.float64), pred.reshape(-1).astype(np.float64)
        fns = {"rows": count, "mae": mean_absolute_error, "rmse": _rmse}
    frame = MetricFrame(metrics=fns, y_true=yt, y_pred=yp, sensitive_features=s)
    by_group = frame.by_group.to_dict(orient="index")
    groups = [
        Group(sl.label, int(sl.mask.sum()), _finite(by_group[sl.label]), sl.label not in large)
        for sl in slices
    ]
    out = Fairness(column, groups)
    if len(large) < 2:
        out.note = (
            f"fewer than two groups with at least {min_rows} rows: no differences between groups"
        )
        return out

    yk, pk, sk = yt[keep], yp[keep], s[keep]
    if spec.task == "binary":
        out.metrics = _parity(yk, pk, sk)
    elif spec.task in CLASSIFICATION:
        for i, c in enumerate(spec.classes):
            out.by_class[c] = _parity(yk == i, pk == i, sk)
        for name in ("demographic_parity_difference", "equalized_odds_difference"):
            values = [f[name] for f in out.by_class.values() if name in f]
            if values:
                out.metrics[name] = max(values)
        for name in ("demographic_parity_ratio", "equalized_odds_ratio"):
            values = [f[name] for f in out.by_class.values() if name in f]
            if values:
                out.metrics[name] = min(values)
    kept = MetricFrame(
        metrics={k: v for k, v in fns.items() if k in ("error_rate", "mae", "rmse")},
        y_true=yk,
        y_pred=pk,
        sensitive_features=sk,
    )
    out.metrics |= _finite({f"{k}_difference": v for k, v in kept.difference().items()})
    return out
