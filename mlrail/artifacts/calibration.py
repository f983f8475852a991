"""Confidence-based performance estimation: a classifier's expected accuracy without labels.

As NannyML's CBPE: if the model's confidence (its largest probability) were calibrated, the
chance that a prediction is right would be its confidence, and the expected accuracy of a
window of predictions the mean of their confidences. Models are rarely calibrated, so a map
from confidence to P(prediction correct) is fitted on the eval split (where the labels are
known) and applied to the served confidences. Estimation assumes what CBPE assumes: the inputs
may shift, the relation between inputs and labels does not (no concept drift); and it is only
as good as the calibration, which is checked here.

The map is **histogram binning** on the top label (Zadrozny and Elkan, 2001): the eval rows'
confidences are cut into ``k`` bins at their quantiles (equal rows per bin), and each bin
holds the share of its rows predicted right, shrunk towards the bin's mean confidence by a
prior of :data:`PRIOR_ROWS` rows, so that a small bin whose rows were all right does not
claim certainty. It is a step function: a handful of numbers in JSON, no scikit-learn to read.

Guarding against overfitting a small eval split:

- ``k`` is at most the rows of a training fold over :data:`MIN_BIN_ROWS` (a 64-row split can
  only have 2 bins; under ``2 * MIN_BIN_ROWS`` rows, no binning at all);
- ``k`` is chosen by cross-validation (:data:`FOLDS` folds, a fixed shuffle): each candidate is
  fitted on the other folds and applied to the held-out one, and the candidate whose
  out-of-fold values have the lowest Brier score against the outcomes wins. (Brier, a proper
  score, and not ECE: ECE rewards a map too coarse to tell confident rows from doubtful ones,
  and one bin would always win on it, leaving an estimate that cannot move under a shift.)
- the raw confidences are kept (``method`` ``identity``) unless the winner's out-of-fold ECE
  is lower than the raw confidences' ECE and its out-of-fold Brier score no higher.

``ece_before`` is the raw confidences' ECE on the eval split, ``ece_after`` the chosen map's
out-of-fold ECE there (not its in-sample ECE, which histogram binning makes nearly 0 by
construction), so ``ece_after <= ece_before`` always, and the gap is honest up to the choice
among a few candidates. ``cv`` holds every candidate's out-of-fold ``ece`` and ``brier``.
ECE is evaluate's: 10 equal-width bins on [0, 1], ``sum_b (n_b / n) |accuracy_b - mean
confidence_b|``.

The estimate's standard error (:func:`estimate_accuracy`) adds two variances: the realized
accuracy's own spread around its expectation on ``n`` rows (``sum p_i (1 - p_i) / n**2``, a sum
of independent Bernoulli trials), and the calibration's sampling error (each bin's value is a
proportion on its eval rows: ``sum_b w_b**2 v_b (1 - v_b) / n_b``, ``w_b`` the window's share
of rows in bin ``b``); the raw confidences (``identity``) carry no calibration term.

Binary classifiers also get an expected ROC AUC (:func:`expected_roc_auc`): the same map is
fitted from the score, P(``classes[1]``), to P(the label is ``classes[1]``) (the fit is the same:
:func:`fit_calibration` with the positive outcome in place of "correct"), and each row of a
window counts as a fractional positive (its calibrated score) and negative (the rest), as
NannyML does: the expected AUC is the share of (positive, negative) pairs ranked right by the
raw score, ties counting half, as a ratio of expected pair counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mlrail.errors import DataError

__all__ = [
    "ECE_BINS",
    "FOLDS",
    "MIN_BIN_ROWS",
    "PRIOR_ROWS",
    "AccuracyEstimate",
    "Calibration",
    "expected_accuracy",
    "expected_calibration_error",
    "expected_roc_auc",
    "estimate_accuracy",
    "fit_calibration",
]

ECE_BINS = 10
FOLDS = 5
#: Fewest eval rows per bin a training fold must offer: a bin's accuracy on fewer is mostly noise.
MIN_BIN_ROWS = 20
#: Weight, in rows, of each bin's prior (its mean confidence) in the bin's value.
PRIOR_ROWS = 2.0
_CANDIDATE_BINS = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20)
_SEED = 20261203
_Z95 = 1.959963984540054


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """ECE of probabilities ``confidence`` that each row is ``correct`` (evaluate's binning)."""
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    if not len(c):
        return 0.0
    ids = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], c)
    n = np.bincount(ids, minlength=n_bins).astype(np.float64)
    gap = np.bincount(ids, weights=ok - c, minlength=n_bins)
    return float(np.sum(np.abs(gap)) / len(c)) if n.sum() else 0.0


@dataclass(frozen=True)
class Calibration:
    """A map from a prediction's confidence to the probability that it is right.

    Attributes:
        method: ``histogram`` (binning) or ``identity`` (the raw confidence).
        edges: The ``k - 1`` inner bin edges, increasing (a confidence equal to an edge goes
            to the bin above it); empty for ``identity``.
        values: P(correct) in each of the ``k`` bins.
        rows: Eval rows in each bin.
        eval_rows: Rows it was fitted on.
        eval_accuracy: Their accuracy.
        ece_before: The raw confidences' ECE on the eval rows.
        ece_after: The chosen map's out-of-fold ECE on the eval rows (``ece_before`` for
            ``identity``).
        cv: Each candidate's (``identity``, ``histogram-<k>``) out-of-fold ``ece`` and ``brier``.
        folds: Cross-validation folds (0 when too few rows to try binning).
    """

    method: str
    edges: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    eval_rows: int = 0
    eval_accuracy: float = 0.0
    ece_before: float = 0.0
    ece_after: float = 0.0
    cv: dict[str, dict[str, float]] = field(default_factory=dict)
    folds: int = 0

    def bins(self, confidences: np.ndarray) -> np.ndarray:
        """Each confidence's bin index (all 0 for ``identity``)."""
        c = np.asarray(confidences, dtype=np.float64).reshape(-1)
        return np.searchsorted(np.asarray(self.edges, dtype=np.float64), c, side="right")

    def apply(self, confidences: np.ndarray) -> np.ndarray:
        """P(correct) of each confidence."""
        c = np.asarray(confidences, dtype=np.float64).reshape(-1)
        if self.method == "identity":
            out: np.ndarray = np.clip(c, 0.0, 1.0)
            return out
        values: np.ndarray = np.asarray(self.values, dtype=np.float64)[self.bins(c)]
        return values

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "edges": list(self.edges),
            "values": list(self.values),
            "rows": list(self.rows),
            "eval_rows": self.eval_rows,
            "eval_accuracy": self.eval_accuracy,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "cv": {k: dict(v) for k, v in self.cv.items()},
            "folds": self.folds,
            "ece_bins": ECE_BINS,
            "prior_rows": PRIOR_ROWS,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str = "calibration") -> Calibration:
        """Read :meth:`to_json`'s form back.

        Raises:
            DataError: naming ``where`` and the field, when a field is missing or inconsistent.
        """
        try:
            cal = cls(
                method=str(raw["method"]),
                edges=[float(x) for x in raw.get("edges", [])],
                values=[float(x) for x in raw.get("values", [])],
                rows=[int(x) for x in raw.get("rows", [])],
                eval_rows=int(raw.get("eval_rows", 0)),
                eval_accuracy=float(raw.get("eval_accuracy", 0.0)),
                ece_before=float(raw.get("ece_before", 0.0)),
                ece_after=float(raw.get("ece_after", 0.0)),
                cv={
                    str(k): {str(m): float(x) for m, x in dict(v).items()}
                    for k, v in dict(raw.get("cv", {})).items()
                },
                folds=int(raw.get("folds", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(f"{where}: not a calibration ({type(e).__name__}: {e})") from e
        if cal.method not in ("identity", "histogram"):
            raise DataError(f"{where}: method {cal.method!r} is not identity or histogram")
        if cal.method == "histogram" and not (
            len(cal.values) == len(cal.edges) + 1 == len(cal.rows) and cal.values
        ):
            raise DataError(f"{where}: a histogram needs one value and row count per bin")
        if any(not 0.0 <= v <= 1.0 for v in cal.values) or list(cal.edges) != sorted(cal.edges):
            raise DataError(f"{where}: values must be in [0, 1] and edges increasing")
        return cal


def _fit_bins(c: np.ndarray, ok: np.ndarray, k: int) -> tuple[list[float], list[float], list[int]]:
    """Histogram binning with ``k`` quantile bins (fewer where confidences tie)."""
    edges = np.unique(np.quantile(c, np.linspace(0.0, 1.0, k + 1)[1:-1])).astype(np.float64)
    ids = np.searchsorted(edges, c, side="right")
    n = np.bincount(ids, minlength=len(edges) + 1).astype(np.float64)
    hits = np.bincount(ids, weights=ok, minlength=len(edges) + 1)
    conf = np.bincount(ids, weights=c, minlength=len(edges) + 1)
    prior = np.divide(conf, n, out=np.full_like(n, 0.5), where=n > 0)
    values = (hits + PRIOR_ROWS * prior) / (n + PRIOR_ROWS)
    return edges.tolist(), values.tolist(), n.astype(int).tolist()


def fit_calibration(
    confidences: np.ndarray, correct: np.ndarray, *, folds: int = FOLDS
) -> Calibration:
    """Fit the confidence → P(correct) map on labelled rows (the module docstring says how).

    Args:
        confidences: Each row's confidence (its largest probability).
        correct: Whether each row's predicted class was the true one.
        folds: Cross-validation folds to choose the number of bins.

    Returns:
        The map, with its reliability on these rows.

    Raises:
        DataError: no rows, or the two arrays differ in length.
    """
    c = np.asarray(confidences, dtype=np.float64).reshape(-1)
    ok = np.asarray(correct, dtype=np.float64).reshape(-1)
    if len(c) != len(ok):
        raise DataError(f"calibration: {len(c)} confidence(s) for {len(ok)} outcome(s)")
    if not len(c):
        raise DataError("calibration: no labelled rows to fit on")
    n = len(c)
    raw = {"ece": expected_calibration_error(c, ok), "brier": _brier(c, ok)}
    identity = Calibration(
        "identity",
        eval_rows=n,
        eval_accuracy=float(ok.mean()),
        ece_before=raw["ece"],
        ece_after=raw["ece"],
        cv={"identity": raw},
    )
    train_rows = n * (folds - 1) // folds if folds > 1 else 0
    candidates = [k for k in _CANDIDATE_BINS if k * MIN_BIN_ROWS <= train_rows]
    if not candidates:
        return identity
    fold = np.random.default_rng(_SEED).permutation(n) % folds
    cv = {"identity": raw}
    for k in candidates:
        oof = np.empty(n)
        for f in range(folds):
            held = fold == f
            edges, values, _ = _fit_bins(c[~held], ok[~held], k)
            oof[held] = np.asarray(values)[np.searchsorted(edges, c[held], side="right")]
        cv[f"histogram-{k}"] = {
            "ece": expected_calibration_error(oof, ok),
            "brier": _brier(oof, ok),
        }
    best = min((name for name in cv if name != "identity"), key=lambda name: cv[name]["brier"])
    if not (cv[best]["ece"] < raw["ece"] and cv[best]["brier"] <= raw["brier"]):
        return replace(identity, cv=cv, folds=folds)
    edges, values, rows = _fit_bins(c, ok, int(best.split("-")[1]))
    return replace(
        identity,
        method="histogram",
        edges=edges,
        values=values,
        rows=rows,
        ece_after=cv[best]["ece"],
        cv=cv,
        folds=folds,
    )


def _brier(p: np.ndarray, ok: np.ndarray) -> float:
    return float(np.mean((p - ok) ** 2))


@dataclass(frozen=True)
class AccuracyEstimate:
    """The expected accuracy of a window of predictions, and how far it may be off.

    Attributes:
        value: The expected accuracy (mean calibrated P(correct)).
        std_error: Its standard error (the module docstring).
        low: ``value - 1.96 std_error``, at least 0.
        high: ``value + 1.96 std_error``, at most 1.
        rows: Predictions it is estimated on.
    """

    value: float
    std_error: float
    low: float
    high: float
    rows: int


def estimate_accuracy(calibration: Calibration, confidences: np.ndarray) -> AccuracyEstimate:
    """The expected accuracy of predictions with these confidences, with a 95% interval.

    Raises:
        DataError: no predictions to estimate from (a window with no traffic is the caller's
            to report).
    """
    c = np.asarray(confidences, dtype=np.float64).reshape(-1)
    if not len(c):
        raise DataError("expected accuracy: no predictions to estimate from")
    p = calibration.apply(c)
    n = len(p)
    value = float(p.mean())
    var = float(np.sum(p * (1.0 - p))) / n**2
    if calibration.method == "histogram":
        w = np.bincount(calibration.bins(c), minlength=len(calibration.values)) / n
        v = np.asarray(calibration.values)
        rows = np.maximum(np.asarray(calibration.rows, dtype=np.float64), 1.0)
        var += float(np.sum(w**2 * v * (1.0 - v) / rows))
    se = math.sqrt(var)
    return AccuracyEstimate(value, se, max(0.0, value - _Z95 * se), min(1.0, value + _Z95 * se), n)


def expected_roc_auc(calibration: Calibration, scores: np.ndarray) -> float | None:
    """A binary classifier's expected ROC AUC on a window, from its scores alone.

    Args:
        calibration: The map from score to P(positive) (:func:`fit_calibration` on the eval
            split's scores and positive outcomes).
        scores: The window's scores, P(``classes[1]``) as the model gives it.

    Returns:
        The expected AUC; None when it is undefined (fewer than 2 rows, or every row certainly
        positive or certainly negative).
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    pos = calibration.apply(s)
    neg = 1.0 - pos
    order = np.argsort(s, kind="stable")
    s, pos, neg = s[order], pos[order], neg[order]
    # tie groups of equal scores, ascending: a positive beats every negative below its group
    # and half of those in it (less itself: a row is never paired with itself)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    group_pos = np.add.reduceat(pos, starts) if len(s) else np.zeros(0)
    group_neg = np.add.reduceat(neg, starts) if len(s) else np.zeros(0)
    below = np.cumsum(group_neg) - group_neg
    self_pairs = float(np.sum(pos * neg))
    right = float(np.sum(group_pos * (below + 0.5 * group_neg))) - 0.5 * self_pairs
    pairs = float(pos.sum() * neg.sum()) - self_pairs
    if len(s) < 2 or pairs <= 1e-12:
        return None
    return right / pairs


def expected_accuracy(calibration: Calibration, confidences: np.ndarray) -> float:
    """The mean calibrated P(correct) of these confidences: CBPE's expected accuracy.

    Raises:
        DataError: no confidences.
    """
    return estimate_accuracy(calibration, confidences).value
